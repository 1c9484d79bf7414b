"""The citizen's app (``/app/``) in Debian's headless Chromium, on a 360 x 780 phone screen.

The real service runs in a subprocess on a fresh SQLite database with the demo
data (:mod:`tests.e2e.live`). Each test takes a fresh demo citizen, registers
them in the app (the device key made by WebCrypto in the browser), logs in, and
then: shows an ``identity_basic`` QR, which must read back, from a screenshot
through zxing-cpp, as exactly the VN1 text the service signed (checked with the
reference verifier against the published trust list); approves a bank's consent
request, which the bank's client (``examples/bank_client.py``) then fetches and
verifies; shows the last QR again after a reload with the network cut; locks the
account. No test may leave an error in the page's console.

``VNID_SCREENSHOTS=docs/screenshots`` saves each main screen as
``app-<screen>.png`` there (else under ``test-artifacts/``).
"""
from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest

from tests.e2e import citizen_app as app
from tests.e2e.browser import browser_tests, chromium, console_errors
from tests.e2e.live import ROOT, LiveServer, running_server

pytestmark = [browser_tests, pytest.mark.slow]
BANK = ROOT / "examples" / "bank_client.py"
BANK_NAME = "Ngân hàng Ngoại thương"
PURPOSE = "Mở tài khoản thanh toán"
SHOTS = ROOT / os.environ.get("VNID_SCREENSHOTS", "test-artifacts")


@pytest.fixture(scope="module")
def server(browser_ready: None, tmp_path_factory: pytest.TempPathFactory
           ) -> Iterator[LiveServer]:
    with running_server(tmp_path_factory.mktemp("citizen-app"), seed_count=200) as live:
        yield live


@pytest.fixture()
def driver(browser_ready: None) -> Iterator[Any]:
    with chromium(width=app.WIDTH, height=app.HEIGHT) as browser:
        app.mobile(browser)
        yield browser
        assert console_errors(browser) == []


@pytest.fixture()
def citizen(server: LiveServer, driver: Any) -> app.Person:
    """A fresh demo citizen, registered and logged in in the app."""
    person = app.person_from_demo(server)
    app.register(driver, server.url, person)
    app.login(driver, server.url, person)
    return person


def shot(driver: Any, name: str) -> None:
    """Save the page as ``app-<name>.png`` (the toasts closed first); nothing wider than 360 px."""
    driver.execute_script("document.getElementById('toasts').replaceChildren()")
    assert driver.execute_script(
        "return document.documentElement.scrollWidth") <= app.WIDTH, f"{name} is too wide"
    SHOTS.mkdir(parents=True, exist_ok=True)
    driver.save_screenshot(str(SHOTS / f"app-{name}.png"))


def expect_failed_calls(driver: Any, *paths: str) -> None:
    """The console's errors so far are only the failed API calls to ``paths`` (read, so cleared)."""
    errors = console_errors(driver)
    assert errors, "the expected failed calls left no trace"
    for entry in errors:
        assert entry["source"] == "network" and any(
            path in entry["message"] for path in paths), entry["message"]


def trust_list(url: str) -> dict[str, Any]:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(url + "/.well-known/vnid-keys.json", timeout=10) as answer:
        data: dict[str, Any] = json.load(answer)
        return data


def qr_in_screenshot(driver: Any) -> str:
    """The text of the QR code the app drew, read from a screenshot of it by zxing-cpp."""
    import zxingcpp
    from PIL import Image
    from selenium.webdriver.common.by import By
    svg = driver.find_element(By.CSS_SELECTOR, "#qr-current svg.qr")
    image = Image.open(io.BytesIO(svg.screenshot_as_png))
    # QR codes only: zxing's linear readers can find a short "barcode" among a QR's modules
    found = zxingcpp.read_barcodes(image, formats=zxingcpp.BarcodeFormat.QRCode)
    assert len(found) == 1, f"{len(found)} codes read in the screenshot"
    assert found[0].format == zxingcpp.BarcodeFormat.QRCode
    return str(found[0].text)


def test_a_citizen_registers_logs_in_and_shows_a_qr_that_reads_back_exactly(
        server: LiveServer, driver: Any) -> None:
    from identity.credentials import verify
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    person = app.person_from_demo(server)
    app.go(driver, server.url, "register")
    app.screen(driver, "register")
    shot(driver, "register")
    app.register(driver, server.url, person)
    shot(driver, "login")
    app.login(driver, server.url, person)
    home = app.screen(driver, "home")
    assert person.full_name in home.text
    assert driver.find_element(By.ID, "account-status").get_attribute("data-status") == "active"
    assert "Điện thoại này" in home.text  # the device bound is this browser's key
    shot(driver, "home")

    # What the phone keeps: the device key, not extractable, and the refresh token in
    # IndexedDB; nothing in localStorage but the language.
    kept = driver.execute_async_script("""
        const done = arguments[arguments.length - 1];
        const open = indexedDB.open('vnid-citizen');
        open.onsuccess = () => {
          const store = open.result.transaction('kv').objectStore('kv');
          const device = store.get('device');
          const refresh = store.get('refresh');
          device.transaction.oncomplete = () => done({
            extractable: device.result.key.privateKey.extractable,
            algorithm: device.result.key.privateKey.algorithm.namedCurve,
            refresh: typeof refresh.result, storage: Object.keys(localStorage)});
        };""")
    assert kept == {"extractable": False, "algorithm": "P-256", "refresh": "string",
                    "storage": []}

    # The passcode modal: Escape cancels, nothing is issued.
    driver.execute_script("location.hash = '#/qr'")
    app.find(driver, "#qr-show").click()
    app.find(driver, "dialog.passcode #passcode-input").send_keys(Keys.ESCAPE)
    app.wait(driver, lambda d: not d.find_elements(By.CSS_SELECTOR, "dialog.passcode"))
    assert driver.find_element(By.ID, "qr-current").get_attribute("data-vn1") is None

    text = app.show_qr(driver, "identity_basic", person.passcode)
    assert text.startswith("VN1:")
    verified = verify(text, trust_list(server.url))
    assert verified.credential_type == "identity_basic"
    assert verified.claims["nm"] == person.full_name
    assert qr_in_screenshot(driver) == text
    shot(driver, "qr")

    # A wrong passcode: a clear message, no new code.
    driver.find_element(By.ID, "qr-renew").click()
    app.enter_passcode(driver, "000000" if person.passcode != "000000" else "111111")
    toast = app.find(driver, "#toasts .toast")
    assert "Sai mã PIN" in toast.text
    assert driver.find_element(By.ID, "qr-current").get_attribute("data-vn1") == text
    expect_failed_calls(driver, "/api/v1/credentials")

    # English; after a reload the session resumes (the refresh token), and the access
    # history shows the login and the QR issued.
    driver.find_element(By.ID, "lang").click()
    driver.execute_script("location.hash = '#/history'")
    driver.refresh()
    history = app.screen(driver, "history")
    app.wait(driver, lambda d: "QR code issued" in history.text and "Login" in history.text)
    assert driver.find_element(By.TAG_NAME, "html").get_attribute("lang") == "en"
    shot(driver, "history")


def test_a_banks_consent_request_approved_in_the_app_reaches_the_bank(
        server: LiveServer, driver: Any, citizen: app.Person) -> None:
    from selenium.webdriver.common.by import By

    server.flask("keys", "rotate")  # the issuer's key of this run (the seed made one too)
    party = json.loads(server.flask(
        "rp", "create", "--name", BANK_NAME, "--kind", "bank",
        "--scopes", "identity.match,identity.consent,credentials.verify").strip().splitlines()[-1])
    env = {k: v for k, v in os.environ.items() if not k.startswith("VNID_")}
    env.update(VNID_CLIENT_SECRET=party["client_secret"], no_proxy="127.0.0.1,localhost",
               NO_PROXY="127.0.0.1,localhost", PYTHONIOENCODING="utf-8")

    def bank(*args: str, ok: bool = True) -> subprocess.CompletedProcess[str]:
        done = subprocess.run([sys.executable, str(BANK), "--server", server.url,
                               "--client-id", party["client_id"], *args], cwd=ROOT, env=env,
                              capture_output=True, text=True, encoding="utf-8", timeout=60)
        assert (done.returncode == 0) == ok, f"{args[0]}: {done.stdout}{done.stderr}"
        return done

    asked = json.loads(bank("ask", "--personal-id", citizen.personal_id, "--attributes",
                            "full_name,date_of_birth", "--purpose", PURPOSE).stdout)
    driver.execute_script("location.hash = '#/consents'")
    section = app.screen(driver, "consents")
    approve = app.find(driver, f'button[data-consent="{asked["id"]}"][data-decision="approve"]')
    assert BANK_NAME in section.text and PURPOSE in section.text
    assert "Họ và tên" in section.text and "Ngày sinh" in section.text
    shot(driver, "consents")
    approve.click()
    app.enter_passcode(driver, citizen.passcode)
    app.wait(driver, lambda d: d.find_element(
        By.CSS_SELECTOR, 'section[data-screen="consents"] .badge').get_attribute(
            "data-status") == "approved")

    received = json.loads(bank("fetch", asked["id"]).stdout)
    assert received["status"] == "approved" and received["offline"]["valid"] is True
    claims = received["offline"]["claims"]
    assert claims["nm"] == citizen.full_name and claims["dob"] == citizen.date_of_birth
    assert set(claims) == {"id", "cr", "nm", "dob"}
    assert "consent.already_fetched" in bank("fetch", asked["id"], ok=False).stderr

    # The share is listed; the citizen asks the bank to erase it.
    driver.execute_script("location.hash = '#/sharing'")
    sharing = app.screen(driver, "sharing")
    app.wait(driver, lambda d: BANK_NAME in sharing.text)
    shot(driver, "sharing")
    app.find(driver, 'section[data-screen="sharing"] button[data-share]').click()
    app.find(driver, 'section[data-screen="sharing"] .actions button.danger').click()
    app.wait(driver, lambda d: "Đã yêu cầu xóa" in d.find_element(
        By.CSS_SELECTOR, 'section[data-screen="sharing"]').text)
    erasures = json.loads(bank("erasures").stdout)
    assert [item["consent_id"] for item in erasures["items"]] == [asked["id"]]


def test_the_last_qr_shows_after_a_reload_with_the_network_cut(
        server: LiveServer, driver: Any, citizen: app.Person) -> None:
    from selenium.webdriver.common.by import By

    text = app.show_qr(driver, "identity_basic", citizen.passcode)
    app.wait(driver, lambda d: d.execute_script(
        "return navigator.serviceWorker.controller !== null"))
    cached = driver.execute_async_script("""
        const done = arguments[arguments.length - 1];
        (async () => {
          const urls = [];
          for (const name of await caches.keys()) {
            for (const request of await (await caches.open(name)).keys()) urls.push(request.url);
          }
          done(urls);
        })();""")
    assert any(url.endswith("/app/app.js") for url in cached)
    assert not [url for url in cached if "/api/" in url], "an API answer was cached"

    driver.execute_cdp_cmd("Network.enable", {})
    driver.execute_cdp_cmd("Network.emulateNetworkConditions", {
        "offline": True, "latency": 0, "downloadThroughput": -1, "uploadThroughput": -1})
    try:
        driver.refresh()
        app.screen(driver, "qr")
        shown = app.find(driver, "#qr-current svg.qr")
        assert "không có mạng" in driver.find_element(By.ID, "qr-current").text
        assert driver.find_element(By.ID, "qr-current").get_attribute("data-vn1") == text
        assert shown.is_displayed() and qr_in_screenshot(driver) == text
        shot(driver, "qr-offline")
    finally:
        driver.execute_cdp_cmd("Network.emulateNetworkConditions", {
            "offline": False, "latency": 0, "downloadThroughput": -1, "uploadThroughput": -1})
    expect_failed_calls(driver, "/api/v1/auth/refresh")


def test_a_citizen_locks_the_account_and_then_sees_only_its_status(
        server: LiveServer, driver: Any, citizen: app.Person) -> None:
    from selenium.webdriver.common.by import By

    app.find(driver, "#lock").click()
    app.find(driver, "#lock-yes").click()
    status = app.find(driver, "#status-only")
    assert driver.find_element(By.ID, "account-status").get_attribute("data-status") == "locked"
    assert driver.find_element(By.ID, "nav").find_elements(By.TAG_NAME, "a") == []
    shot(driver, "locked")
    assert "mật khẩu và mã SMS" in status.text

    # The session is over: a reload asks for a login, and the login is refused as locked.
    driver.refresh()
    app.screen(driver, "login")
    app.fill(driver, {"personal_id": citizen.personal_id, "password": citizen.password})
    app.submit(driver, "login")
    error = app.find(driver, 'section[data-screen="login"] .error')
    assert "khóa" in error.text
    expect_failed_calls(driver, "/api/v1/auth/refresh", "/api/v1/auth/login")

    # Found again: the password and an SMS code unlock it, and the app works as before.
    app.unlock(driver, server.url, citizen)
    app.login(driver, server.url, citizen)
    assert driver.find_element(By.ID, "account-status").get_attribute("data-status") == "active"


def test_an_account_waiting_for_review_sees_only_its_status(
        server: LiveServer, driver: Any) -> None:
    """A phone that is not the registry's: the account waits for an officer, the app says so."""
    from dataclasses import replace

    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions

    person = replace(app.person_from_demo(server), phone="0399123456")
    app.register(driver, server.url, person)
    app.login(driver, server.url, person)
    status = app.find(driver, "#status-only")
    assert driver.find_element(By.ID, "account-status").get_attribute(
        "data-status") == "pending_review"
    assert person.full_name not in status.text  # no registry data before the review
    assert driver.find_element(By.ID, "nav").find_elements(By.TAG_NAME, "a") == []
    driver.execute_script("location.hash = '#/qr'")  # any other screen: the status again
    app.wait(driver, expected_conditions.staleness_of(status))
    assert app.find(driver, "#status-only").is_displayed()
    assert not driver.find_elements(By.ID, "qr-show")


def test_the_apps_der_signatures_and_verifier_requests_read_as_the_server_reads_them(
        server: LiveServer, driver: Any) -> None:
    """WebCrypto's r||s becomes the DER the server verifies, for every shape of r and s."""
    from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

    n = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551  # P-256's order
    pairs = [(1, 1), (0x80, 0x7F), (2**255, 2**247 + 5), (0x00FF << 200, 1 << 8), (n - 1, n - 2),
             (int("7f" + "00" * 31, 16), int("80" + "00" * 31, 16))]
    app.go(driver, server.url, "login")
    app.screen(driver, "login")
    answers = driver.execute_async_script("""
        const [pairs, done] = [arguments[0], arguments[arguments.length - 1]];
        Promise.all([import('/app/device.js'), import('/app/lastqr.js')]).then(([device, qr]) => {
          const raw = (hex) => Uint8Array.from(hex.match(/../g), (b) => parseInt(b, 16));
          const der = pairs.map(([r, s]) => Array.from(device.rawToDer(raw(r + s)),
            (b) => b.toString(16).padStart(2, '0')).join(''));
          const requests = ['aud=rp:vcb01&nonce=Qx7-kP2mZ9aa',
            'https://bank.example/verify/?aud=rp:vcb01&nonce=Qx7-kP2mZ9aa',
            '{"audience": "rp:vcb01", "nonce": "Qx7-kP2mZ9aa"}', 'rp:vcb01 Qx7-kP2mZ9aa',
            'Qx7-kP2mZ9aa', ''].map((text) => qr.parseVerifierRequest(text));
          done({der, requests});
        });""", [[f"{r:064x}", f"{s:064x}"] for r, s in pairs])
    assert answers["der"] == [encode_dss_signature(r, s).hex() for r, s in pairs]
    both = {"audience": "rp:vcb01", "nonce": "Qx7-kP2mZ9aa"}
    assert answers["requests"] == [both, both, both, both,
                                   {"audience": None, "nonce": "Qx7-kP2mZ9aa"},
                                   {"audience": None, "nonce": None}]
