"""The verifier page (/verify/) in headless Chromium, then with the network and the server gone.

The service runs with demo data (:mod:`tests.e2e.live`). The page is loaded
once: its service worker keeps the page and its modules, and the trust list is
saved. The keyboard alone verifies a pasted code (Enter), the page reads at
360 px, and switches language. A citizen's real ``identity`` credential is
issued through the API (the reference mobile client, an officer raising the
account to level 2). Then the browser goes offline (DevTools' network
emulation) and the server is stopped; the page is reloaded from its service
worker, verifies the credential (valid, its claims shown) and a tampered copy
(``bad_signature``). Screenshots: ``test-artifacts/verify-*.png``; the two
shown in docs/clients.md are copied to ``docs/screenshots/`` by
``VNID_UPDATE_SCREENSHOTS=1``.
"""
from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.browser import browser_tests, chromium, console_errors
from tests.e2e.live import ROOT, LiveServer, api, level2_citizen, running_server
from tests.identity.credentials.vn1_helpers import pack, sign1_parts

ARTIFACTS = ROOT / "test-artifacts"
SCREENSHOTS = ROOT / "docs" / "screenshots"
CITIZEN = {"personal_id": "001090012345", "full_name": "Nguyễn Văn An",
           "date_of_birth": "1990-05-12", "phone": "0912345678"}
PASSWORD = "correct horse battery staple"
PASSCODE = "246810"
pytestmark = browser_tests

WAIT_FOR_WORKER = """
const done = arguments[arguments.length - 1];
navigator.serviceWorker.ready.then(() => {
  if (navigator.serviceWorker.controller) done(true);
  else navigator.serviceWorker.addEventListener('controllerchange', () => done(true));
}, (error) => done(String(error)));
"""


def issue_identity_credential(server: LiveServer, home: Path) -> str:
    """A citizen raised to level 2 by an officer shows an ``identity`` credential."""
    client, _, _ = level2_citizen(server, home, CITIZEN, password=PASSWORD, passcode=PASSCODE,
                                  officer="verify.page.officer")
    issued = json.loads(client("credential", "--type", "identity", "--passcode", PASSCODE))
    text = issued["qr"]
    assert isinstance(text, str) and text.startswith("VN1:")
    return text


def tampered(text: str) -> str:
    """The same credential with one letter of the name changed, the signature kept."""
    parts = sign1_parts(text)
    name = CITIZEN["full_name"].encode()
    assert name in parts[2]
    parts[2] = parts[2].replace(name, name[:-1] + b"m")
    return pack(parts)


@pytest.fixture(scope="module")
def server(browser_ready: None, tmp_path_factory: pytest.TempPathFactory
           ) -> Iterator[LiveServer]:
    with running_server(tmp_path_factory.mktemp("verify-page")) as live:
        yield live


def paste_and_verify(driver: Any, text: str) -> Any:
    """Type ``text`` into the box, press Enter; the verdict element once it is shown."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import WebDriverWait

    box = driver.find_element(By.ID, "vn1-text")
    box.clear()
    # send_keys types character by character: set the value, then press Enter as a user would
    driver.execute_script("arguments[0].value = arguments[1];", box, text)
    box.send_keys(Keys.ENTER)
    return WebDriverWait(driver, 20).until(
        lambda d: d.find_element(By.ID, "verdict") if d.find_elements(By.ID, "verdict")
        else False)


def no_horizontal_scroll(driver: Any) -> bool:
    return bool(driver.execute_script(
        "return document.documentElement.scrollWidth <= window.innerWidth;"))


@pytest.mark.slow
def test_the_verifier_page_verifies_offline_from_its_service_worker(
        server: LiveServer, tmp_path: Path) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    ARTIFACTS.mkdir(exist_ok=True)
    keys = api(server.url, "GET", "/.well-known/vnid-keys.json")["keys"]
    active_kid = next(key["kid"] for key in keys if key["status"] == "active")
    with chromium(width=412, height=1400) as driver:
        wait = WebDriverWait(driver, 20)
        driver.get(server.url + "/verify/")
        wait.until(lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-trust")
                   == "ready")
        assert driver.execute_async_script(WAIT_FOR_WORKER) is True
        assert "1 khoá" in driver.find_element(By.ID, "trust-status").text

        # The keyboard alone: the skip link, then the code box; Enter verifies.
        driver.find_element(By.TAG_NAME, "body").send_keys("\t")
        assert driver.switch_to.active_element.get_attribute("class") == "skip-link"
        verdict = paste_and_verify(driver, "VN1:NOT-A-CREDENTIAL")
        assert verdict.get_attribute("data-reason") == "malformed"
        assert "KHÔNG HỢP LỆ" in verdict.text and "định dạng" in verdict.text
        assert driver.switch_to.active_element.get_attribute("id") == "vn1-text"

        # English, then back (the choice is remembered across a reload).
        driver.find_element(By.ID, "lang").click()
        assert "NOT VALID" in driver.find_element(By.ID, "verdict").text
        assert driver.find_element(By.ID, "trust-refresh").text == "Refresh trust list"
        driver.refresh()
        wait.until(lambda d: d.find_element(By.ID, "verify").text == "Verify")
        driver.find_element(By.ID, "lang").click()
        assert driver.find_element(By.ID, "verify").text == "Xác minh"

        # Readable on a 360-px phone: nothing wider than the screen.
        driver.set_window_size(360, 1400)
        assert no_horizontal_scroll(driver)
        driver.set_window_size(412, 1400)

        text = issue_identity_credential(server, tmp_path / "phone")

        # The network and the server gone; the page comes from its service worker.
        driver.execute_cdp_cmd("Network.enable", {})
        driver.execute_cdp_cmd("Network.emulateNetworkConditions", {
            "offline": True, "latency": 0, "downloadThroughput": -1, "uploadThroughput": -1})
        server.stop()
        driver.refresh()
        wait.until(lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-trust")
                   == "ready")
        assert driver.execute_script("return navigator.onLine") is False
        assert "Ngoại tuyến" in driver.find_element(By.ID, "net").text

        verdict = paste_and_verify(driver, text)
        assert verdict.get_attribute("data-valid") == "true", verdict.text
        assert "HỢP LỆ" in verdict.text
        claims = {element.get_attribute("data-claim"): element.text for element in
                  driver.find_elements(By.CSS_SELECTOR, "dd[data-claim]")}
        assert claims["nm"] == CITIZEN["full_name"]
        assert claims["id"] == CITIZEN["personal_id"]
        assert "1990" in claims["dob"] and claims["sx"] == "Nam" and claims["lvl"] == "Mức 2"
        assert "identity" in driver.find_element(By.ID, "credential-type").text
        assert driver.find_element(By.ID, "kid").text == active_kid
        assert "còn" in driver.find_element(By.ID, "expires").text
        driver.save_screenshot(str(ARTIFACTS / "verify-valid.png"))

        verdict = paste_and_verify(driver, tampered(text))
        assert verdict.get_attribute("data-valid") == "false"
        assert driver.find_element(By.ID, "reason").text == "bad_signature"
        assert "Chữ ký không đúng" in verdict.text
        driver.save_screenshot(str(ARTIFACTS / "verify-invalid.png"))

        driver.set_window_size(360, 1400)
        assert no_horizontal_scroll(driver)
        driver.save_screenshot(str(ARTIFACTS / "verify-invalid-360.png"))
        assert console_errors(driver) == []

    if os.environ.get("VNID_UPDATE_SCREENSHOTS") == "1":
        for name in ("verify-valid.png", "verify-invalid.png"):
            shutil.copyfile(ARTIFACTS / name, SCREENSHOTS / name)
