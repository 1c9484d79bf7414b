"""A page object of the citizen's app (``/app/``), for the browser tests of every client.

``person_from_demo(server)`` takes a fresh demo citizen (``flask demo citizen
--fresh``); ``register``, ``login``, ``show_qr`` and ``unlock`` drive the app as a citizen would
(typing, clicking, the passcode modal), the SMS code read from the development
outbox as the reference mobile client reads it. ``mobile(driver)`` makes the window
a 360 x 780 phone. Every wait fails the test after ``TIMEOUT`` seconds.

    with chromium() as driver:
        mobile(driver)
        person = person_from_demo(live)
        register(driver, live.url, person)
        login(driver, live.url, person)
        vn1 = show_qr(driver, "identity_basic", person.passcode)
"""
from __future__ import annotations

import importlib.util
import sys
from dataclasses import dataclass
from typing import Any

from tests.e2e.browser import wait_until
from tests.e2e.live import CLIENT, LiveServer, api, fresh_demo_citizen

TIMEOUT = 20
WIDTH, HEIGHT = 360, 780


def _mobile_client() -> Any:
    spec = importlib.util.spec_from_file_location("mobile_client_for_app", CLIENT)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


_MC = _mobile_client()


@dataclass
class Person:
    """A citizen of the registry and the secrets they choose in the app."""

    personal_id: str
    full_name: str
    date_of_birth: str
    phone: str
    password: str = "rice paddy lantern 2026"
    passcode: str = "258036"


def person_from_demo(server: LiveServer) -> Person:
    """A demo citizen nobody has used yet (``flask demo citizen --fresh``)."""
    values = fresh_demo_citizen(server)
    return Person(personal_id=values["PERSONAL_ID"], full_name=values["FULL_NAME"],
                  date_of_birth=values["DATE_OF_BIRTH"], phone=values["PHONE"])


def mobile(driver: Any) -> None:
    """A phone's viewport: 360 x 780 CSS pixels, touch, whatever headless allows as a window."""
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {
        "width": WIDTH, "height": HEIGHT, "deviceScaleFactor": 1, "mobile": True})


def wait(driver: Any, condition: Any, timeout: float = TIMEOUT) -> Any:
    return wait_until(driver, condition, timeout)


def find(driver: Any, css: str, timeout: float = TIMEOUT) -> Any:
    """The first visible element matching ``css``."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    return wait(driver, ec.visibility_of_element_located((By.CSS_SELECTOR, css)), timeout)


def screen(driver: Any, screen_id: str, timeout: float = TIMEOUT) -> Any:
    """Wait until the app shows the screen ``screen_id`` (its section) and return it."""
    return find(driver, f'section[data-screen="{screen_id}"]', timeout)


def go(driver: Any, url: str, route: str = "") -> None:
    """Open ``/app/#/<route>`` (a fresh page load)."""
    driver.get(f"{url}/app/#/{route}")


def type_into(driver: Any, css: str, text: str) -> None:
    element = find(driver, css)
    element.clear()
    element.send_keys(text)


def sms_code(url: str, phone: str) -> str:
    """The newest code sent to ``phone`` (the development outbox), as the mobile client reads it."""
    messages = api(url, "GET", "/api/v1/dev/sms-outbox")["messages"]
    code = _MC.find_sms_code(messages, phone)
    assert code, f"no SMS code in the outbox for the phone ending {phone[-2:]}"
    return str(code)


def submit(driver: Any, screen_id: str) -> None:
    """Press the submit button of the form on screen ``screen_id``."""
    find(driver, f'section[data-screen="{screen_id}"] button[type="submit"]').click()


def fill(driver: Any, values: dict[str, str]) -> None:
    """Type each value into the field whose id is its key."""
    for field_id, text in values.items():
        type_into(driver, f"#{field_id}", text)


def register(driver: Any, url: str, person: Person) -> None:
    """Register ``person`` in the app: details, SMS code, password, passcode; ends on login."""
    go(driver, url, "register")
    screen(driver, "register")
    fill(driver, {"personal_id": person.personal_id, "full_name": person.full_name})
    date = find(driver, "#date_of_birth")
    driver.execute_script("arguments[0].value = arguments[1]", date, person.date_of_birth)
    fill(driver, {"phone": person.phone})
    submit(driver, "register")
    find(driver, "#code-sent")
    fill(driver, {"otp": sms_code(url, person.phone), "password": person.password,
                  "password_again": person.password, "passcode": person.passcode,
                  "passcode_again": person.passcode})
    submit(driver, "register")
    screen(driver, "login")


def _with_password(driver: Any, url: str, person: Person, screen_id: str) -> None:
    """Open ``screen_id``, type the personal id and password, submit."""
    go(driver, url, screen_id)
    screen(driver, screen_id)
    fill(driver, {"personal_id": person.personal_id, "password": person.password})
    submit(driver, screen_id)


def login(driver: Any, url: str, person: Person) -> None:
    """Log in with the personal id and password (the device key signs); ends on home."""
    _with_password(driver, url, person, "login")
    screen(driver, "home")


def unlock(driver: Any, url: str, person: Person) -> None:
    """Unlock a locked account in the app: password, then the SMS code; ends on login."""
    _with_password(driver, url, person, "unlock")
    find(driver, "#unlock-code-sent")
    fill(driver, {"otp": sms_code(url, person.phone)})
    submit(driver, "unlock")
    screen(driver, "login")


def enter_passcode(driver: Any, passcode: str) -> None:
    """Answer the passcode modal (typed, then Enter)."""
    from selenium.webdriver.common.keys import Keys
    field = find(driver, "dialog.passcode #passcode-input")
    field.send_keys(passcode + Keys.ENTER)


def show_qr(driver: Any, credential_type: str, passcode: str, *,
            audience: str | None = None, nonce: str | None = None) -> str:
    """Make a QR of ``credential_type`` (or ``document:<id>``) on the QR screen; its VN1 text."""
    from selenium.webdriver.common.by import By
    driver.execute_script("location.hash = '#/qr'")
    screen(driver, "qr")
    find(driver, "#qr-show")
    previous = driver.find_element(By.ID, "qr-current").get_attribute("data-vn1")
    choice = find(driver, f'input[name="qr-type"][value="{credential_type}"]')
    driver.execute_script("arguments[0].click()", choice)
    if audience or nonce:
        find(driver, "#qr-verifier summary").click()
        type_into(driver, "#qr-request", f"aud={audience or ''}&nonce={nonce or ''}")
    find(driver, "#qr-show").click()
    enter_passcode(driver, passcode)

    def new_text(d: Any) -> str | bool:
        text = d.find_element(By.ID, "qr-current").get_attribute("data-vn1")
        return bool(text and text != previous) and str(text)

    text: str = wait(driver, new_text)
    return text
