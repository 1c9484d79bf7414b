"""The utilities of the citizen's app (/app/) in a real browser, with the officer in the console.

Debian's Chromium (:mod:`tests.e2e.browser`) drives the app at a phone's width
(360 px) against the real service (:mod:`tests.e2e.live`) and the bank gateway
simulator (``flask payments gateway-sim``) on ports of their own. Citizens
register and log in through the app (:mod:`tests.e2e.citizen_app`); officers,
made with ``flask officers create`` and their TOTP, work in the police console
(:mod:`tests.e2e.police_console`); the receipt is checked on ``/verify/``.

1. An anonymous report with a photo: the officer asks, the citizen answers in
   the app, the officer closes it, the citizen sees it closed. The case's key
   is in the phone's IndexedDB only.
2. A temporary stay declared in the app, confirmed by the host in their own
   app (a second browser profile), approved by the officer.
3. A fine paid in the app through the gateway simulator's page; the
   receipt's QR text pasted into ``/verify/`` is valid.

Each screen is saved as ``app-<screen>.png`` (under 150 KB) by the police
console's :func:`~tests.e2e.police_console.screenshot` (in ``test-artifacts/``,
or ``docs/screenshots/`` with ``VNID_SCREENSHOTS=docs/screenshots``); no test
leaves a SEVERE entry in a browser's console but the ones it names.
"""
from __future__ import annotations

import datetime as dt
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e import citizen_app as app
from tests.e2e import police_console as police
from tests.e2e.browser import browser_tests, chromium, console_errors
from tests.e2e.live import ROOT, LiveServer, api, free_port, fresh_demo_citizen

pytestmark = [browser_tests, pytest.mark.slow]
VIETNAM = dt.timezone(dt.timedelta(hours=7))


@pytest.fixture(scope="module")
def server(browser_ready: None, tmp_path_factory: pytest.TempPathFactory
           ) -> Iterator[LiveServer]:
    """The service with demo data, its bank gateway simulator calling it back."""
    live = LiveServer(tmp_path_factory.mktemp("citizen-utilities"))
    gateway = f"http://127.0.0.1:{free_port()}"
    live.env.update(PAYMENT_GATEWAY_URL=gateway, PAYMENT_CALLBACK_BASE_URL=live.url)
    live.flask("db", "upgrade")
    live.flask("demo", "seed", "--count", "300")
    with (live.tmp / "gateway-sim.log").open("ab") as log:
        simulator = subprocess.Popen(
            [sys.executable, "-m", "flask", "payments", "gateway-sim", "--port",
             gateway.rsplit(":", 1)[1], "--delay", "1"], cwd=ROOT, env=live.env, stdout=log,
            stderr=subprocess.STDOUT)
    try:
        _wait_for(f"{gateway}/_sim/stats")
        live.start()
        try:
            yield live
        finally:
            live.stop()
    finally:
        simulator.terminate()
        simulator.wait(timeout=10)


def _wait_for(url: str, seconds: float = 30) -> None:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    deadline = time.monotonic() + seconds
    while True:
        try:
            with opener.open(url, timeout=2) as answer:
                answer.read()
                return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def demo_person(server: LiveServer) -> tuple[app.Person, dict[str, str]]:
    """A demo citizen nobody has used yet, and the registry's values printed with them
    (``PROVINCE``, ``COMMUNE``, ``ADDRESS``: where a host lives, where a fine is issued)."""
    values = fresh_demo_citizen(server)
    return app.Person(personal_id=values["PERSONAL_ID"], full_name=values["FULL_NAME"],
                      date_of_birth=values["DATE_OF_BIRTH"], phone=values["PHONE"]), values


def shot(driver: Any, name: str) -> Path:
    """``docs/screenshots/app-<name>.png`` (toasts closed first); nothing wider than 360 px."""
    driver.execute_script("document.getElementById('toasts')?.replaceChildren()")
    assert driver.execute_script("return document.documentElement.scrollWidth") <= app.WIDTH, \
        f"{name} is too wide"
    return police.screenshot(driver, name, prefix="app")


def photo(tmp: Path) -> Path:
    """A JPEG from a phone's camera: pixels, and EXIF with a GPS position to be removed."""
    from PIL import Image

    image = Image.new("RGB", (640, 480), (200, 80, 40))
    for x in range(0, 640, 40):
        for y in range(0, 480, 40):
            image.putpixel((x, y), (255, 255, 255))
    exif = Image.Exif()
    exif[0x010F] = "PhoneMaker"  # Make
    exif[0x8825] = {1: "N", 2: (21.0, 2.0, 0.0), 3: "E", 4: (105.0, 50.0, 0.0)}  # GPSInfo
    path = tmp / "scene.jpg"
    image.save(path, format="JPEG", quality=80, exif=exif)
    return path


def select(driver: Any, css: str, value: str) -> None:
    """Choose ``value`` in the <select> ``css`` once the option is there (loaded by the API)."""
    from selenium.webdriver.support.ui import Select
    app.wait(driver, lambda d: d.find_elements("css selector", f"{css} option[value='{value}']")
             and d.find_element("css selector", css).is_enabled())
    Select(app.find(driver, css)).select_by_value(value)


def set_value(driver: Any, css: str, value: str) -> None:
    """Set a date or datetime-local input (typing them depends on the browser's locale)."""
    element = app.find(driver, css)
    driver.execute_script("arguments[0].value = arguments[1];"
                          "arguments[0].dispatchEvent(new Event('change'));", element, value)


def no_console_errors(driver: Any, *, allowed: tuple[str, ...] = ()) -> None:
    errors = console_errors(driver, allowed=allowed)
    assert errors == [], errors


def citizen_browser() -> Any:
    """A phone-sized Chromium with a profile of its own (its own IndexedDB and device key)."""
    return chromium(width=420, height=900)


def keys_on_phone(driver: Any) -> list[dict[str, Any]]:
    """The anonymous reports' keys this browser's IndexedDB holds (screens/reports-keys.js)."""
    return list(driver.execute_async_script("""
        const done = arguments[arguments.length - 1];
        const open = indexedDB.open('vnid-citizen');
        open.onsuccess = () => {
          const read = open.result.transaction('kv').objectStore('kv').get('reporterKeys');
          read.onsuccess = () => done(read.result || []);
          read.onerror = () => done([]);
        };
        open.onerror = () => done([]);
    """))


def test_an_anonymous_report_with_a_photo_asked_answered_and_closed(
        server: LiveServer, tmp_path: Path) -> None:
    from selenium.webdriver.common.by import By

    person, _ = demo_person(server)
    officer = police.create_officer(server, "ca.badinh.app", province="01", commune="00004")
    question, answer = "Số máy gọi đến lúc mấy giờ?", "Khoảng 9 giờ sáng, số 0987 654 321."
    outcome = "Đã chặn số điện thoại lừa đảo."
    with citizen_browser() as phone, chromium() as console:
        app.mobile(phone)
        app.register(phone, server.url, person)
        app.login(phone, server.url, person)

        # The form: fraud, anonymous, in Phường Ba Đình, with a photo from the files.
        app.go(phone, server.url, "reports/new")
        app.screen(phone, "reports")
        select(phone, "#report-category", "fraud")
        app.find(phone, "label[for='report-anonymous']").click()
        select(phone, "#report-place-province", "01")
        select(phone, "#report-place-commune", "00004")
        app.type_into(phone, "#report-address", "Số 12 phố Kim Mã")
        app.type_into(phone, "#report-description",
                      "Một người xưng là nhân viên ngân hàng gọi hỏi mã OTP.")
        app.type_into(phone, "#report-scam-phones", "0987 654 321")
        phone.find_element(By.ID, "report-photos-files").send_keys(str(photo(tmp_path)))
        thumb = app.find(phone, ".thumbs li img")
        phone.execute_script("arguments[0].scrollIntoView({block: 'center'})", thumb)
        shot(phone, "reports-new")
        app.find(phone, "#report-submit").click()

        status = app.find(phone, "#report-status .badge")
        assert status.get_attribute("data-status") == "received"
        case = app.find(phone, "section[data-screen='reports'] h2 .mono").text
        assert case.startswith("TG-")
        evidence = app.find(phone, "#report-evidence")
        assert "(1)" in evidence.find_element(By.TAG_NAME, "h2").text
        assert "image/jpeg" in evidence.text
        held = keys_on_phone(phone)
        assert [row["case_number"] for row in held] == [case]
        assert held[0]["reporter_key"]  # the only way back to the case, on this phone only

        # The officer of Ba Đình: the case is anonymous; a question.
        police.login(console, server.url, officer)
        police.open_queue(console, "reports")
        opened = police.open_case(console, case)
        assert opened["status"] == "received"
        assert person.full_name not in console.page_source
        assert person.personal_id not in console.page_source
        police.ask_question(console, question)

        # The citizen sees the question among their anonymous cases, and answers it.
        app.go(phone, server.url, "reports")
        item = app.find(phone, f"#reports-anonymous li[data-case='{case}']")
        assert item.find_elements(By.CSS_SELECTOR, ".badge.warn")
        shot(phone, "reports-list")
        item.find_element(By.TAG_NAME, "a").click()
        assert question in app.find(phone, "#report-question").text
        app.type_into(phone, "#report-answer", answer)
        shot(phone, "reports-question")
        app.find(phone, "#report-answer-submit").click()
        app.find(phone, "#report-timeline li[data-action='answer']")
        assert answer in app.find(phone, "#report-timeline").text

        # The officer reads the answer, and closes the case.
        police.open_queue(console, "reports")
        opened = police.open_case(console, case)
        assert any(answer in text for text in opened["history_text"])
        for step in ("verify", "investigate"):
            police.transition(console, step)
        closed = police.transition(console, "close", outcome)
        assert closed["status"] == "closed"

        # The citizen sees it closed, with the outcome and every step.
        app.find(phone, "#report-refresh").click()
        app.wait(phone, lambda d: d.find_element(By.CSS_SELECTOR, "#report-status .badge")
                 .get_attribute("data-status") == "closed")
        assert outcome in app.find(phone, "#report-resolution").text
        actions = [li.get_attribute("data-action") for li in
                   phone.find_elements(By.CSS_SELECTOR, "#report-timeline li")]
        assert actions == ["create", "add_evidence", "ask", "answer", "verify", "investigate",
                           "close"]
        assert not phone.find_elements(By.ID, "report-answer-form")  # nothing to answer now
        shot(phone, "reports-closed")
        app.find(phone, "#lang").click()  # English second
        app.wait(phone, lambda d: d.find_element(By.CSS_SELECTOR, "#report-status .badge").text
                 == "Closed")
        assert "Outcome:" in app.find(phone, "#report-resolution").text
        assert "Case closed" in app.find(phone, "#report-timeline").text
        no_console_errors(phone)
        no_console_errors(console)


def test_a_stay_declared_confirmed_by_the_host_in_their_app_and_approved(
        server: LiveServer) -> None:
    from selenium.webdriver.common.by import By

    declarant, home = demo_person(server)
    host, place = demo_person(server)
    while place["COMMUNE"] == home["COMMUNE"]:  # a stay is declared away from home
        host, place = demo_person(server)
    officer = police.create_officer(server, "ca.tamtru.app", province=place["PROVINCE"],
                                    commune=place["COMMUNE"])
    today = dt.datetime.now(VIETNAM).date()
    with citizen_browser() as phone, citizen_browser() as host_phone, \
            chromium() as console:
        for driver, person in ((phone, declarant), (host_phone, host)):
            app.mobile(driver)
            app.register(driver, server.url, person)
            app.login(driver, server.url, person)

        # The declarant: a stay at the host's address, from today for 180 days.
        app.go(phone, server.url, "residence")
        app.find(phone, "#residence-new-stay").click()
        select(phone, "#stay-place-province", place["PROVINCE"])
        select(phone, "#stay-place-commune", place["COMMUNE"])
        app.type_into(phone, "#stay-address", place["ADDRESS"])
        set_value(phone, "#stay-start", today.isoformat())
        set_value(phone, "#stay-end", today.isoformat())
        app.type_into(phone, "#stay-reason", "Đi làm")
        app.type_into(phone, "#stay-host", host.personal_id)
        # An end that is not after the start: the service's error, in Vietnamese, at the field.
        app.find(phone, "#stay-submit").click()
        assert "Ngày kết thúc phải sau ngày bắt đầu" in app.find(phone, ".form-error").text
        assert app.find(phone, "#stay-end").get_attribute("aria-invalid") == "true"
        assert "Ngày kết thúc" in app.find(phone, "#stay-end-error").text
        set_value(phone, "#stay-end", (today + dt.timedelta(days=180)).isoformat())
        shot(phone, "residence-stay")
        app.find(phone, "#stay-submit").click()
        app.wait(phone, lambda d: "#/residence/stays/" in d.current_url
                 or d.find_elements(By.CSS_SELECTOR, ".form-error"))
        assert not phone.find_elements(By.CSS_SELECTOR, ".form-error"), \
            phone.find_element(By.CSS_SELECTOR, "form").text
        stay_id = int(phone.current_url.rsplit("/", 1)[1])
        assert app.find(phone, "#stay-status .badge").get_attribute("data-status") \
            == "awaiting_host"

        # The host, in their own app: the stay waits for them; confirmed with the passcode.
        app.go(host_phone, server.url, "residence")
        waiting = app.find(host_phone, f"#residence-hosting li[data-stay='{stay_id}']")
        assert declarant.full_name in waiting.text
        shot(host_phone, "residence-host")
        waiting.find_element(By.CSS_SELECTOR, ".host-confirm").click()
        app.enter_passcode(host_phone, host.passcode)
        app.wait(host_phone, lambda d: not d.find_elements(
            By.CSS_SELECTOR, f"#residence-hosting li[data-stay='{stay_id}']"))

        # The declarant sees it with the police; the commune's officer approves it.
        app.go(phone, server.url, "residence")
        app.find(phone, f"#residence-stays li[data-id='{stay_id}'] a").click()
        assert app.find(phone, "#stay-status .badge").get_attribute("data-status") \
            == "submitted"
        police.login(console, server.url, officer)
        assert police.approve_declaration(console, stay_id)["status"] == "approved"

        # Approved and in force: the declarant's current temporary residence.
        phone.refresh()
        status = app.find(phone, "#stay-status")
        assert status.find_element(By.CSS_SELECTOR, ".badge").get_attribute("data-status") \
            == "approved"
        assert len(status.find_elements(By.CSS_SELECTOR, ".badge.ok")) == 2  # approved, in force
        actions = [li.get_attribute("data-action") for li in
                   phone.find_elements(By.CSS_SELECTOR, "#residence-history li")]
        assert actions == ["create", "confirm_host", "approve"]
        shot(phone, "residence-approved")
        app.go(phone, server.url, "residence")
        assert place["ADDRESS"] in app.find(phone, "#residence-current").text
        item = app.find(phone, f"#residence-stays li[data-id='{stay_id}']")
        assert item.find_element(By.CSS_SELECTOR, ".badge").get_attribute("data-status") \
            == "approved"
        shot(phone, "residence")

        # An absence from home declared, then withdrawn (a second press confirms).
        app.find(phone, "#residence-new-absence").click()
        set_value(phone, "#absence-start", (today + dt.timedelta(days=1)).isoformat())
        set_value(phone, "#absence-end", (today + dt.timedelta(days=30)).isoformat())
        app.type_into(phone, "#absence-reason", "Đi công tác")
        app.type_into(phone, "#absence-destination", place["ADDRESS"])
        shot(phone, "residence-absence")
        app.find(phone, "#absence-submit").click()
        assert app.find(phone, "#absence-status .badge").get_attribute("data-status") \
            == "declared"
        app.find(phone, "#residence-withdraw").click()
        app.find(phone, "#residence-withdraw").click()
        app.wait(phone, lambda d: d.find_element(By.CSS_SELECTOR, "#absence-status .badge")
                 .get_attribute("data-status") == "withdrawn")
        assert not phone.find_elements(By.ID, "residence-withdraw")

        # The host notifies the police of a guest lodging at their home.
        app.go(host_phone, server.url, "residence/lodging")
        app.type_into(host_phone, "#guest-1-id", declarant.personal_id)
        app.type_into(host_phone, "#guest-1-name", declarant.full_name)
        set_value(host_phone, "#guest-1-dob", declarant.date_of_birth)
        shot(host_phone, "residence-lodging")
        app.find(host_phone, "#lodging-submit").click()
        assert "1" in app.find(host_phone, "#lodging-done").text

        # Chromium logs every error answer: the one refusal this test asked for is allowed.
        no_console_errors(phone, allowed=("/api/v1/residence/stays - Failed to load resource: "
                                          "the server responded with a status of 422",))
        no_console_errors(host_phone)
        no_console_errors(console)


def test_a_fine_paid_through_the_bank_and_its_receipt_valid_on_the_verifier(
        server: LiveServer) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    person, values = demo_person(server)
    officer = police.create_officer(server, "csgt.app", province=values["PROVINCE"])
    with citizen_browser() as phone, citizen_browser() as verifier:
        app.mobile(phone)
        app.mobile(verifier)  # a hotel's or a bank's phone
        app.register(phone, server.url, person)
        app.login(phone, server.url, person)
        # The fine, issued through the API as the officers' tools do (the console has no form).
        token = api(server.url, "POST", "/api/v1/auth/officer-login", {
            "username": officer.username, "password": officer.password,
            "totp": officer.code()})["access_token"]
        due = (dt.datetime.now(VIETNAM).date() + dt.timedelta(days=30)).isoformat()
        order = api(server.url, "POST", "/api/v1/police/fines", {
            "personal_id": person.personal_id, "full_name": person.full_name,
            "date_of_birth": person.date_of_birth, "amount": 800000, "due_date": due,
            "legal_basis": "Nghị định 168/2024/NĐ-CP, Điều 7 khoản 4 điểm a"}, token)

        app.go(phone, server.url, "payments")
        item = app.find(phone, f"#payments-open li[data-order='{order['id']}']")
        assert "800.000" in item.text
        shot(phone, "payments")
        item.find_element(By.TAG_NAME, "a").click()
        Select(app.find(phone, "#pay-bank")).select_by_value("VCB")
        shot(phone, "payments-order")
        app.find(phone, "#pay-submit").click()
        app.enter_passcode(phone, person.passcode)

        # The bank's page opens in a tab of its own; the app waits for the bank's callback.
        bank_page = app.find(phone, "#pay-bank-page")
        shot(phone, "payments-pending")
        app_tab = phone.current_window_handle
        bank_page.click()
        app.wait(phone, lambda d: len(d.window_handles) == 2)
        phone.switch_to.window(next(h for h in phone.window_handles if h != app_tab))
        assert "800,000 VND" in app.find(phone, "body").text
        phone.close()
        phone.switch_to.window(app_tab)
        app.wait(phone, lambda d: d.find_elements(By.CSS_SELECTOR, "#order-status .badge")
                 and d.find_element(By.CSS_SELECTOR, "#order-status .badge")
                 .get_attribute("data-status") == "paid")
        receipt = app.find(phone, "#receipt")
        assert "800.000" in receipt.text

        # The receipt's QR, drawn in the app from its VN1 text.
        app.find(phone, "#receipt-qr-show").click()
        app.enter_passcode(phone, person.passcode)
        app.find(phone, "#receipt-qr svg.qr")
        text = app.find(phone, "#receipt-qr-text").get_attribute("value")
        assert text.startswith("VN1:")
        phone.execute_script("arguments[0].scrollIntoView({block: 'center'})",
                             app.find(phone, "#receipt-qr svg.qr"))
        shot(phone, "payments-receipt")
        # The simulator's bank page has no icon: the tab's request for one is not the app's.
        no_console_errors(phone, allowed=(f"{server.env['PAYMENT_GATEWAY_URL']}/favicon.ico",))

        # Pasted into the verifier page: valid, a receipt of 800,000 đồng.
        result = verify_on_page(verifier, server.url, text)
        assert result["valid"] and not result["reason"], result
        assert "receipt" in result["shown"] and "800" in result["shown"], result
        shot(verifier, "payments-verified")
        no_console_errors(verifier)


def verify_on_page(driver: Any, url: str, text: str) -> dict[str, Any]:
    """Paste ``text`` into ``/verify/`` (once its trust list is loaded) and check it."""
    driver.get(f"{url}/verify/")
    app.find(driver, "body[data-trust='ready']")
    area = app.find(driver, "#vn1-text")
    driver.execute_script("arguments[0].value = arguments[1];", area, text)  # 500+ characters
    app.find(driver, "#verify").click()
    verdict = app.find(driver, "#verdict[data-valid]")
    return {"valid": verdict.get_attribute("data-valid") == "true",
            "reason": verdict.get_attribute("data-reason"),
            "shown": app.find(driver, "#result").text}
