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

Each screen is saved as ``docs/screenshots/app-<screen>.png`` (under 150 KB);
no test leaves a SEVERE entry in a browser's console.
"""
from __future__ import annotations

import datetime as dt
import io
import shlex
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
from tests.e2e.live import ROOT, LiveServer, api, free_port

pytestmark = [browser_tests, pytest.mark.slow]
SCREENSHOTS = ROOT / "docs" / "screenshots"
VIETNAM = dt.timezone(dt.timedelta(hours=7))


@pytest.fixture(scope="module")
def server(browser_ready: None, tmp_path_factory: pytest.TempPathFactory
           ) -> Iterator[LiveServer]:
    """The service with demo data, its bank gateway simulator calling it back."""
    live = LiveServer(tmp_path_factory.mktemp("citizen-utilities"))
    gateway = f"http://127.0.0.1:{free_port()}"
    live.env.update(PAYMENT_GATEWAY_URL=gateway, PAYMENT_CALLBACK_BASE_URL=live.url)
    live.flask("db", "upgrade")
    live.flask("demo", "seed", "--count", "20")
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
    printed = server.flask("demo", "citizen", "--fresh")
    values = {name: shlex.split(value)[0] for name, value in
              (line.split("=", 1) for line in printed.splitlines() if "=" in line)}
    return app.Person(personal_id=values["PERSONAL_ID"], full_name=values["FULL_NAME"],
                      date_of_birth=values["DATE_OF_BIRTH"], phone=values["PHONE"]), values


def shot(driver: Any, name: str, *, max_bytes: int = 150_000) -> Path:
    """``docs/screenshots/app-<name>.png``: the phone's window, reduced to a palette."""
    from PIL import Image

    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    image = Image.open(io.BytesIO(driver.get_screenshot_as_png())).convert("RGB")
    for colours in (64, 32, 16):
        out = io.BytesIO()
        image.quantize(colors=colours, method=Image.Quantize.MEDIANCUT).save(
            out, format="PNG", optimize=True)
        if out.tell() <= max_bytes:
            break
    path = SCREENSHOTS / f"app-{name}.png"
    path.write_bytes(out.getvalue())
    assert path.stat().st_size <= max_bytes, path
    return path


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


def no_console_errors(driver: Any) -> None:
    errors = console_errors(driver)
    assert errors == [], errors


def citizen_browser() -> Any:
    """A phone-sized Chromium with a profile of its own (its own IndexedDB and device key)."""
    return chromium(width=420, height=900)


def keys_on_phone(driver: Any) -> list[dict[str, Any]]:
    """The anonymous reports' keys this browser's IndexedDB holds (reports-keys.js)."""
    return list(driver.execute_async_script("""
        const done = arguments[arguments.length - 1];
        const open = indexedDB.open('vnid-reports');
        open.onsuccess = () => {
          const read = open.result.transaction('reporter-keys').objectStore('reporter-keys')
            .getAll();
          read.onsuccess = () => done(read.result);
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
        no_console_errors(phone)
        no_console_errors(console)
