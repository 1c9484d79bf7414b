"""The police console (``/police/``) as a page object, for browser tests.

A test creates an officer with :func:`create_officer` (``flask officers
create`` on a :class:`~tests.e2e.live.LiveServer`), opens a browser
(``tests.e2e.browser.chromium``) and drives the console through these
functions; each waits for the screen it leads to and returns what it shows::

    officer = create_officer(server, "ca.badinh", province="01", commune="00004")
    login(driver, server.url, officer)
    open_case(driver, case_number)
    ask_question(driver, "What time did they call?")
    transition(driver, "verify")
    verify_qr(driver, qr_text)   # {"valid": True, "reason": None, "claims": {...}, ...}

An officer's TOTP step is accepted once: :meth:`Officer.code` waits for the
next 30-second step when this officer already used the current one, so a test
may log the same officer in twice.
"""
from __future__ import annotations

import io
import json
import os
import re
import time
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyotp

from tests.e2e.browser import wait_until
from tests.e2e.live import ROOT, LiveServer

#: Where :func:`screenshot` saves: ``test-artifacts/``, or ``VNID_SCREENSHOTS=docs/screenshots``
#: to refresh the pictures of docs/clients.md.
SCREENSHOTS = ROOT / os.environ.get("VNID_SCREENSHOTS", "test-artifacts")
PASSWORD = "correct horse battery staple"
WAIT_SECONDS = 20
#: Acts that move a report, by the status they lead to (``transition(driver, "closed")``).
ACT_TO = {"verifying": "verify", "investigating": "investigate", "closed": "close",
          "rejected": "reject"}


@dataclass
class Officer:
    """An officer's login: username, password and the TOTP secret from ``flask officers create``."""

    username: str
    secret: str
    password: str = PASSWORD
    used_steps: set[int] = field(default_factory=set)

    def code(self) -> str:
        """A TOTP code of a time step this officer has not used yet (waits for one if needed)."""
        step = int(time.time()) // 30
        while step in self.used_steps or (self.used_steps and step <= max(self.used_steps)):
            time.sleep(30 - time.time() % 30 + 0.2)
            step = int(time.time()) // 30
        self.used_steps.add(step)
        return pyotp.TOTP(self.secret).at(step * 30)

    def wrong_code(self) -> str:
        """A six-digit code that is none of the accepted steps' (now, and one either side)."""
        totp = pyotp.TOTP(self.secret)
        now = time.time()
        valid = {totp.at(now + shift) for shift in (-60, -30, 0, 30, 60)}
        return next(code for code in (f"{n:06d}" for n in range(1, 1_000_000, 7919))
                    if code not in valid)


def create_officer(server: LiveServer, username: str, *, province: str,
                   commune: str | None = None, password: str = PASSWORD,
                   full_name: str = "Trần Thị Bình", supervisor: bool = False) -> Officer:
    """``flask officers create``; the officer with the TOTP secret of its answer."""
    unit = ["--province", province] + (["--commune", commune] if commune else [])
    role = ["--role", "supervisor"] if supervisor else []
    created = server.flask("officers", "create", "--username", username, "--full-name",
                           full_name, *unit, *role, "--password-stdin", stdin=password + "\n")
    made = json.loads(created.strip().splitlines()[-1])
    secret = urllib.parse.parse_qs(urllib.parse.urlparse(made["totp_uri"]).query)["secret"][0]
    return Officer(username=username, secret=secret, password=password)


# --- waiting -----------------------------------------------------------------------

def _wait(driver: Any, condition: Any, seconds: float = WAIT_SECONDS) -> Any:
    return wait_until(driver, condition, seconds)


def _find(driver: Any, css: str, seconds: float = WAIT_SECONDS) -> Any:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    return _wait(driver, ec.visibility_of_element_located((By.CSS_SELECTOR, css)), seconds)


def _all(driver: Any, css: str) -> list[Any]:
    from selenium.webdriver.common.by import By
    return list(driver.find_elements(By.CSS_SELECTOR, css))


def settled(driver: Any) -> None:
    """Wait until the screen of the current address is shown (``#view[data-shown]``)."""
    _wait(driver, lambda d: d.execute_script(
        "const v = document.getElementById('view');"
        "return document.body.dataset.ready === '1' && v && !v.hasAttribute('aria-busy')"
        " && v.dataset.shown === location.hash;"))


def wait_for_route(driver: Any, route: str) -> None:
    """Wait until the console shows ``#/route...`` (the address starts with it), settled."""
    _wait(driver, lambda d: d.execute_script("return location.hash;").startswith(f"#/{route}"))
    settled(driver)


def wait_for_focus(driver: Any, element_id: str) -> None:
    """Wait until the element ``element_id`` has the keyboard focus."""
    _wait(driver, lambda d: d.execute_script("return document.activeElement.id;") == element_id)


def tab_to(driver: Any, css: str, *, most: int = 40) -> int:
    """Press Tab until the element ``css`` has the focus; how many presses it took."""
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.keys import Keys
    for presses in range(1, most + 1):
        ActionChains(driver).send_keys(Keys.TAB).perform()
        if driver.execute_script("return document.activeElement.matches(arguments[0]);", css):
            return presses
    raise AssertionError(f"{css} is not reached with Tab")


def go(driver: Any, route: str) -> None:
    """Open ``#/route`` (with its ``?query``) in the page already loaded, and wait for it."""
    driver.execute_script("location.hash = arguments[0];", f"#/{route}")
    wait_for_route(driver, route.split("?")[0])


def _type(element: Any, text: str) -> None:
    element.clear()
    element.send_keys(text)


def _confirm(driver: Any, text: str | None = None) -> None:
    """Answer the confirmation dialog (typing ``text`` when it asks for one)."""
    _find(driver, "#confirm-dialog")
    if text is not None:
        _type(_find(driver, "#confirm-text"), text)
    # the answer to come is the act's: no message of an earlier act may be read for it
    driver.execute_script("for (const id of ['flash', 'alert'])"
                          " document.getElementById(id).hidden = true;")
    _find(driver, "#confirm-ok").click()
    _wait(driver, lambda d: not _all(d, "#confirm-dialog"))


def flash(driver: Any) -> str:
    """The success message shown (``#flash``), or ''."""
    element = _all(driver, "#flash")
    return str(element[0].text) if element and element[0].is_displayed() else ""


def alert(driver: Any) -> dict[str, str]:
    """The error shown (``#alert``): its text and the API's error code, or empty strings."""
    element = _all(driver, "#alert")
    if not element or not element[0].is_displayed():
        return {"text": "", "code": ""}
    return {"text": str(element[0].text), "code": str(element[0].get_attribute("data-code"))}


# --- login --------------------------------------------------------------------------

def login(driver: Any, url: str, officer: Officer, *, totp: str | None = None,
          expect_ok: bool = True) -> str:
    """Log in on ``url + /police/``; '' when in, else the error shown under the form."""
    driver.get(f"{url}/police/#/login")
    settled(driver)
    _type(_find(driver, "#username"), officer.username)
    _type(_find(driver, "#password"), officer.password)
    _type(_find(driver, "#totp"), totp if totp is not None else officer.code())
    _find(driver, "#login-submit").click()
    if not expect_ok:
        error = _wait(driver, lambda d: d.find_element("id", "login-error").text or False)
        return str(error)
    _wait(driver, lambda d: d.execute_script("return location.hash;").startswith("#/reports")
          or not d.execute_script("return location.hash;").startswith("#/login"))
    settled(driver)
    return ""


def logout(driver: Any) -> None:
    _find(driver, "#logout").click()
    _find(driver, "#login-form")


def switch_language(driver: Any) -> str:
    """Switch vi <-> en; the document's language after the switch."""
    before = driver.execute_script("return document.documentElement.lang;")
    _find(driver, "#lang-switch").click()
    _wait(driver, lambda d: d.execute_script("return document.documentElement.lang;") != before)
    settled(driver)
    return str(driver.execute_script("return document.documentElement.lang;"))


# --- queues -------------------------------------------------------------------------

def _rows(driver: Any, table_id: str) -> list[dict[str, Any]]:
    rows = []
    for row in _all(driver, f"#{table_id} tbody tr"):
        cells = [cell.text for cell in row.find_elements("css selector", "th, td")]
        rows.append({"case": row.get_attribute("data-case"), "id": row.get_attribute("data-id"),
                     "account": row.get_attribute("data-account"),
                     "status": row.get_attribute("data-status"), "cells": cells})
    return rows


def open_queue(driver: Any, queue: str, **filters: Any) -> list[dict[str, Any]]:
    """Open a queue (``reports``, ``stays``, ``absences``, ``pending``) with the API's filters.

    Each row: ``case`` (reports), ``id`` (stays, absences), ``account`` (pending),
    ``status`` and the ``cells``' texts.
    """
    query = urllib.parse.urlencode({k: ("true" if v is True else v) for k, v in filters.items()
                                    if v not in (None, False)})
    go(driver, f"{queue}?{query}" if query else queue)
    return _rows(driver, f"{queue}-table")


def filter_queue(driver: Any, **choices: str | bool) -> list[dict[str, Any]]:
    """Fill the filter form of the queue on screen (selects, dates, ``overdue``) and submit it."""
    from selenium.webdriver.support.ui import Select
    queue = driver.execute_script("return location.hash;")[2:].split("?")[0]
    for name, value in choices.items():
        element = _find(driver, f"#{name}")
        if element.tag_name == "select":
            Select(element).select_by_value(str(value))
        elif element.get_attribute("type") == "checkbox":
            if element.is_selected() != bool(value):
                element.click()
        elif element.get_attribute("type") == "date":
            driver.execute_script("arguments[0].value = arguments[1];", element, value)
        else:
            _type(element, str(value))
    before = driver.execute_script("return location.hash;")
    _find(driver, "#filter-submit").click()
    _wait(driver, lambda d: d.execute_script("return location.hash;") != before)
    settled(driver)
    return _rows(driver, f"{queue}-table")


# --- a report -----------------------------------------------------------------------

def _case(driver: Any) -> dict[str, Any]:
    article = _find(driver, "#case")
    return {"case": article.get_attribute("data-case"), "id": article.get_attribute("data-id"),
            "status": article.get_attribute("data-status"),
            "history": [item.get_attribute("data-action")
                        for item in _all(driver, "#case-history li")],
            "history_text": [item.text for item in _all(driver, "#case-history li")],
            "acts": [button.get_attribute("data-act")
                     for button in _all(driver, "#case-acts button")],
            "indicators": [item.text for item in _all(driver, "#case-indicators li")]}


def open_case(driver: Any, case_number: str) -> dict[str, Any]:
    """Open a report from its queue row (the link), or by its address if not on the page.

    Returns ``case``, ``status``, ``history`` (the acts, oldest first), ``history_text``,
    ``acts`` (the status buttons offered) and ``indicators`` (each scam number's line).
    """
    links = _all(driver, f"#reports-table tr[data-case='{case_number}'] a")
    if links:
        links[0].click()
        _wait(driver, lambda d: d.execute_script("return location.hash;")
              == f"#/reports/{case_number}")
        settled(driver)
    else:
        go(driver, f"reports/{case_number}")
    return _case(driver)


def _case_data(driver: Any, name: str) -> str | None:
    """``data-<name>`` of the case on screen, read in one step (the case may be re-rendering)."""
    value = driver.execute_script("const c = document.getElementById('case');"
                                  "return c ? c.getAttribute(arguments[0]) : null;", f"data-{name}")
    return None if value is None else str(value)


def _acted(driver: Any, changed: Any) -> None:
    """Wait for the console's answer to an act: its error, or its message once ``changed``."""
    _wait(driver, lambda d: alert(d)["text"] or (flash(d) and changed(d)))
    problem = alert(driver)
    if problem["text"]:
        raise AssertionError(f"the console refused: {problem}")
    settled(driver)


def _after_act(driver: Any, version_before: str | None) -> dict[str, Any]:
    _acted(driver, lambda d: _case_data(d, "version") not in (None, version_before))
    return _case(driver)


def ask_question(driver: Any, text: str) -> dict[str, Any]:
    """Ask the reporter ``text``; the case after it."""
    version = _case_data(driver, "version")
    _type(_find(driver, "#question-text"), text)
    _find(driver, "#question-submit").click()
    return _after_act(driver, version)


def transition(driver: Any, to: str, text: str | None = None) -> dict[str, Any]:
    """Move the case on: ``to`` is an act (``verify``, ``close``...) or the status it leads to.

    ``close`` needs the outcome and ``reject`` the reason: ``text`` (a default is typed).
    """
    act = ACT_TO.get(to, to)
    version = _case_data(driver, "version")
    _find(driver, f"#case-acts button[data-act='{act}']").click()
    needs_text = act in ("close", "reject")
    _confirm(driver, (text or f"{act}: done in the browser test") if needs_text else None)
    return _after_act(driver, version)


def take_case(driver: Any) -> dict[str, Any]:
    """Assign the open case to oneself."""
    version = _case_data(driver, "version")
    _find(driver, "#case-acts button[data-act='assign']").click()
    return _after_act(driver, version)


def transfer(driver: Any, *, province: str, commune: str | None, reason: str) -> str:
    """Transfer the open case to another unit; the message shown (the queue is shown after)."""
    from selenium.webdriver.support.ui import Select
    Select(_find(driver, "#transfer-province")).select_by_value(province)
    if commune:
        _wait(driver, lambda d: _all(d, f"#transfer-commune option[value='{commune}']"))
        Select(_find(driver, "#transfer-commune")).select_by_value(commune)
    _type(_find(driver, "#transfer-reason"), reason)
    _find(driver, "#transfer-submit").click()
    _wait(driver, lambda d: flash(d) or alert(d)["text"])
    return flash(driver) or alert(driver)["text"]


# --- residence ----------------------------------------------------------------------

def open_declaration(driver: Any, kind: str, declaration_id: int) -> dict[str, Any]:
    """Open a stay (``kind="stays"``) or an absence (``"absences"``); its status, history, acts."""
    go(driver, f"{kind}/{declaration_id}")
    return _case(driver)


def declaration_action(driver: Any, act: str, reason: str | None = None) -> dict[str, Any]:
    """Run ``approve``, ``reject`` (with ``reason``), ``check_host`` or ``acknowledge``."""
    before = _case_data(driver, "status")
    _find(driver, f"#case-acts button[data-act='{act}']").click()
    _confirm(driver, reason if act == "reject" else None)
    _acted(driver, lambda d: _case_data(d, "status") not in (None, before))
    return _case(driver)


def approve_declaration(driver: Any, stay_id: int) -> dict[str, Any]:
    """Open a temporary stay and approve it; the case after it."""
    open_declaration(driver, "stays", stay_id)
    return declaration_action(driver, "approve")


def reject_declaration(driver: Any, stay_id: int, reason: str) -> dict[str, Any]:
    open_declaration(driver, "stays", stay_id)
    return declaration_action(driver, "reject", reason)


def review_registration(driver: Any, account_id: int, decision: str,
                        reason: str | None = None) -> str:
    """Approve or reject a pending registration from its queue; the message shown."""
    go(driver, "pending")
    _find(driver, f"#pending-table tr[data-account='{account_id}'] "
                  f"button[data-act='{decision}']").click()
    _confirm(driver, reason if decision == "reject" else None)
    _wait(driver, lambda d: flash(d) or alert(d)["text"])
    return flash(driver) or alert(driver)["text"]


# --- the in-person desk -------------------------------------------------------------

def look_up(driver: Any, personal_id: str) -> dict[str, Any]:
    """Look a citizen up at the desk: ``found``, ``name``, ``account_id``, ``level``, ``status``."""
    go(driver, "desk")
    _type(_find(driver, "#desk-personal-id"), personal_id)
    _find(driver, "#desk-lookup-submit").click()
    _wait(driver, lambda d: _all(d, "#desk-citizen") or alert(d)["text"])
    return _citizen(driver)


def _citizen(driver: Any) -> dict[str, Any]:
    card = _all(driver, "#desk-citizen")
    if not card:
        return {"found": False, "error": alert(driver)}
    return {"found": True, "name": card[0].find_element("css selector", "h2").text,
            "account_id": card[0].get_attribute("data-account-id"),
            "level": card[0].get_attribute("data-level"),
            "status": card[0].get_attribute("data-status")}


def raise_level2(driver: Any, personal_id: str, card_number: str | None = None,
                 check: str = "face") -> dict[str, Any]:
    """Look the citizen up, raise the account to level 2 (confirmed); the citizen's card after."""
    from selenium.webdriver.support.ui import Select
    look_up(driver, personal_id)
    Select(_find(driver, "#level2-check")).select_by_value(check)
    _type(_find(driver, "#level2-card"), card_number or personal_id)
    _find(driver, "#level2-submit").click()
    _confirm(driver)
    _wait(driver, lambda d: flash(d) or alert(d)["text"])
    problem = alert(driver)
    if problem["text"]:
        raise AssertionError(f"the console refused: {problem}")
    return {**_citizen(driver), "message": flash(driver)}


def _unfold(driver: Any, form: str) -> None:
    """Open a desk form folded in its <details> (recovery, reclaim: the rarer acts)."""
    details = _find(driver, f"#{form}-details")
    if details.get_attribute("open") is None:
        details.find_element("css selector", "summary").click()


def recover_device(driver: Any, personal_id: str, *, device_id: str, public_key: str,
                   phone: str | None = None, check: str = "face") -> str:
    """In-person recovery: bind a new phone to the citizen's account; the message shown."""
    from selenium.webdriver.support.ui import Select
    look_up(driver, personal_id)
    _unfold(driver, "recovery")
    Select(_find(driver, "#recovery-check")).select_by_value(check)
    _type(_find(driver, "#recovery-device-id"), device_id)
    _type(_find(driver, "#recovery-device-key"), public_key)
    if phone:
        _type(_find(driver, "#recovery-phone"), phone)
    _find(driver, "#recovery-submit").click()
    _confirm(driver)
    _wait(driver, lambda d: flash(d) or alert(d)["text"])
    return flash(driver) or alert(driver)["text"]


def reclaim(driver: Any, personal_id: str, *, device_id: str, public_key: str, phone: str,
            reason: str, card_number: str | None = None, check: str = "face") -> str:
    """Reclaim an identity at the desk; the message shown (masked phone, registration id)."""
    from selenium.webdriver.support.ui import Select
    look_up(driver, personal_id)
    _unfold(driver, "reclaim")
    _type(_find(driver, "#reclaim-card"), card_number or personal_id)
    Select(_find(driver, "#reclaim-check")).select_by_value(check)
    _type(_find(driver, "#reclaim-device-id"), device_id)
    _type(_find(driver, "#reclaim-device-key"), public_key)
    _type(_find(driver, "#reclaim-phone"), phone)
    _type(_find(driver, "#reclaim-reason"), reason)
    _find(driver, "#reclaim-submit").click()
    _confirm(driver)
    _wait(driver, lambda d: flash(d) or alert(d)["text"])
    return flash(driver) or alert(driver)["text"]


# --- the QR verifier ----------------------------------------------------------------

def _verification(driver: Any) -> dict[str, Any]:
    done = "#verify-result[data-valid='true'], #verify-result[data-valid='false']"
    box = _wait(driver, lambda d: (_all(d, done) or [None])[0])

    def check(css: str) -> dict[str, Any] | None:
        found = _all(driver, css)
        if not found or found[0].get_attribute("data-valid") == "":
            return None
        return {"valid": found[0].get_attribute("data-valid") == "true",
                "reason": found[0].get_attribute("data-reason") or None}

    claims = {item.get_attribute("data-key"): item.text
              for item in _all(driver, "#verify-claims dd[data-key]")}
    reason_text = _all(driver, "#verify-reason")
    return {"valid": box.get_attribute("data-valid") == "true",
            "reason": box.get_attribute("data-reason") or None,
            "verdict": _find(driver, "#verify-verdict").text,
            "explanation": reason_text[0].text if reason_text else "",
            "offline": check("#verify-offline"), "online": check("#verify-online"),
            "claims": claims}


def _forget_result(driver: Any) -> None:
    """Blank the previous result, so the next one read is the new check's."""
    driver.execute_script("const box = document.getElementById('verify-result');"
                          "box.dataset.valid = ''; box.replaceChildren();")


def verify_qr(driver: Any, text: str) -> dict[str, Any]:
    """Paste a ``VN1:`` text into the verifier and check it.

    Returns ``valid``, ``reason`` (the final verdict's, None when valid), ``verdict``
    (the words shown), ``explanation``, ``offline`` and ``online`` (each ``{valid,
    reason}`` or None when that check did not run) and ``claims`` (claim key -> text).
    """
    go(driver, "verify")
    _forget_result(driver)
    area = _find(driver, "#qr-text")
    driver.execute_script("arguments[0].value = arguments[1];", area, text)  # 500+ characters
    _find(driver, "#verify-submit").click()
    return _verification(driver)


def verify_qr_image(driver: Any, image: Path) -> dict[str, Any]:
    """Choose a picture of the QR (``input[type=file]``): read by jsQR, then checked."""
    go(driver, "verify")
    _forget_result(driver)
    _find(driver, "#qr-file").send_keys(str(image))
    return _verification(driver)


def verify_qr_camera(driver: Any) -> dict[str, Any]:
    """Scan with the camera (a browser from :func:`camera_showing` films the QR); the result."""
    go(driver, "verify")
    _forget_result(driver)
    _find(driver, "#camera-toggle").click()
    return _verification(driver)


def camera_showing(picture: Path, video: Path, *, width: int = 640, height: int = 480,
                   margin: int = 20) -> tuple[str, ...]:
    """Chromium's flags for a fake camera filming ``picture`` (written as the Y4M ``video``).

    The picture is centred on white at its own size, never scaled down: a camera held close
    enough to read the code. The frame is ``width`` x ``height`` or larger when the picture
    and its margin need it. Scaling a phone's screenshot down to fit a 480-pixel frame left
    about 3.5 pixels per module, under what jsQR reads reliably, and the camera check failed
    now and then (depending on the credential's bits). YUV 4:2:0, one frame, which Chromium
    repeats.
    """
    from PIL import Image

    shown = Image.open(picture).convert("RGB")
    width = max(width, shown.width + 2 * margin)
    height = max(height, shown.height + 2 * margin)
    width, height = width + width % 2, height + height % 2  # 4:2:0 halves both sides
    frame = Image.new("RGB", (width, height), "white")
    frame.paste(shown, ((width - shown.width) // 2, (height - shown.height) // 2))
    luma, blue, red = frame.convert("YCbCr").split()
    half = (width // 2, height // 2)
    video.write_bytes(f"YUV4MPEG2 W{width} H{height} F10:1 Ip A1:1 C420jpeg\nFRAME\n".encode()
                      + luma.tobytes() + blue.resize(half).tobytes() + red.resize(half).tobytes())
    return ("--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream",
            f"--use-file-for-fake-video-capture={video}")


# --- screenshots --------------------------------------------------------------------

#: A text key of the console's dictionaries shown as is: a translation is missing.
UNTRANSLATED = re.compile(r"\b(?:app|nav|session|login|common|error|reports|category|status|case|"
                          r"act|stays?|host_check|role|absences?|person|gender|pending|overdue|"
                          r"desk|check|verify|type|claim|reason)\.[a-z0-9_]+\b")


def untranslated(driver: Any) -> list[str]:
    """The console's dictionary keys shown instead of words (none when all is translated)."""
    return list(UNTRANSLATED.findall(driver.find_element("tag name", "body").text))


def screenshot(driver: Any, screen: str, *, max_bytes: int = 150_000,
               prefix: str = "police") -> Path:
    """``<prefix>-<screen>.png`` in :data:`SCREENSHOTS` (``app-`` for the citizen's app): the
    window, a palette PNG under max_bytes. A console's screen must show no dictionary key
    in place of words (:func:`untranslated`)."""
    from PIL import Image

    missing = untranslated(driver) if prefix == "police" else []
    assert not missing, f"untranslated on the {screen} screen: {missing}"
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{prefix}-{screen}.png"
    image = Image.open(io.BytesIO(driver.get_screenshot_as_png())).convert("RGB")
    for colours in (64, 32, 16):
        out = io.BytesIO()
        image.quantize(colors=colours, method=Image.Quantize.MEDIANCUT).save(
            out, format="PNG", optimize=True)
        if out.tell() <= max_bytes:
            break
    path.write_bytes(out.getvalue())
    assert path.stat().st_size <= max_bytes, f"{path}: {path.stat().st_size} bytes"
    return path
