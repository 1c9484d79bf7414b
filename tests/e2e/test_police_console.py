"""The police console (``/police/``) in Debian's headless Chromium, against a live server.

The service runs in a subprocess on a fresh SQLite database with the demo data
(:mod:`tests.e2e.live`); officers are made with ``flask officers create`` and log
in with their TOTP; citizens act through the reference mobile client or, for the
issue's journey, through the citizen's app in a second browser
(:mod:`tests.e2e.citizen_app`). The console is driven through its page object
(:mod:`tests.e2e.police_console`). Every test ends with no SEVERE console entry
but the refusals it caused on purpose, and saves a screenshot of the screens it
saw as ``police-<screen>.png`` (in ``test-artifacts/``;
``VNID_SCREENSHOTS=docs/screenshots`` refreshes those of docs/clients.md).
"""
from __future__ import annotations

import datetime as dt
import json
import re
import shlex
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e import citizen_app
from tests.e2e import police_console as console
from tests.e2e.browser import browser_tests, chromium, console_errors
from tests.e2e.live import LiveServer, api, run_client, running_server

NEW_PHONE = citizen_app._MC  # the reference mobile client's module: a second phone's device key

pytestmark = [browser_tests, pytest.mark.slow]
PASSCODE = "246810"
#: ``flask demo seed`` always adds this citizen (Phường Ba Đình, commune 00004, Hà Nội).
CITIZEN = {"personal_id": "001090012345", "full_name": "Nguyễn Văn An",
           "date_of_birth": "1990-05-12", "phone": "0912345678"}
COMMUNE = "00004"


@pytest.fixture(scope="module")
def server(browser_ready: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    with running_server(tmp_path_factory.mktemp("police-console"), seed_count=200) as live:
        yield live


@pytest.fixture()
def driver(browser_ready: None) -> Iterator[Any]:
    with chromium() as browser:
        yield browser


class Phone:
    """A citizen's phone running the reference mobile client (its state in ``home``)."""

    def __init__(self, server: LiveServer, home: Path) -> None:
        self.server, self.home = server, home

    def __call__(self, *args: str) -> str:
        done = run_client(self.server.url, self.home, *args)
        assert done.returncode == 0, f"{args[0]}: {done.stderr}\n{self.server.log()[-3000:]}"
        return done.stdout

    def register(self, person: dict[str, str]) -> dict[str, Any]:
        fields = [f"--{key.replace('_', '-')}={value}" for key, value in person.items()]
        account = json.loads(self("register", *fields, "--password", console.PASSWORD,
                                  "--passcode", PASSCODE))
        self("login", "--personal-id", person["personal_id"], "--password", console.PASSWORD)
        return dict(account)

    def token(self) -> str:
        session = json.loads((self.home / "session.json").read_text(encoding="utf-8"))
        return str(session["access_token"])


@pytest.fixture(scope="module")
def citizen(server: LiveServer, tmp_path_factory: pytest.TempPathFactory) -> Phone:
    """The demo citizen of Ba Đình, registered and logged in on a phone."""
    phone = Phone(server, tmp_path_factory.mktemp("phone"))
    phone.register(CITIZEN)
    return phone


def no_console_errors(driver: Any, *allowed: str) -> None:
    errors = console_errors(driver, allowed=allowed)
    assert errors == [], errors


def test_a_wrong_totp_is_refused_the_right_one_logs_in_and_the_session_lasts_until_it_ends(
        server: LiveServer, driver: Any) -> None:
    officer = console.create_officer(server, "ca.login", province="01", commune=COMMUNE)

    refused = console.login(driver, server.url, officer, totp=officer.wrong_code(),
                            expect_ok=False)
    assert refused == "Tên đăng nhập, mật khẩu hoặc mã TOTP không đúng."
    assert driver.execute_script("return location.hash;").startswith("#/login")
    console.screenshot(driver, "login")

    # the keyboard alone: the form opens on the username, Tab goes down the form, Enter sends
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.keys import Keys
    driver.refresh()
    console.settled(driver)
    console.wait_for_focus(driver, "username")
    ActionChains(driver).send_keys(officer.username, Keys.TAB, officer.password, Keys.TAB,
                                   officer.code(), Keys.ENTER).perform()
    console.wait_for_route(driver, "reports")
    assert driver.switch_to.active_element.text == "Tin báo, tố giác của địa bàn"  # the h1
    assert "ca.login" in driver.find_element("id", "officer").text
    # the access token is in memory only: nothing in localStorage but the language
    assert driver.execute_script("return Object.keys(localStorage);") in ([], ["vnid.police.lang"])

    driver.refresh()  # the refresh token kept in IndexedDB brings the session back
    console.settled(driver)
    assert driver.execute_script("return location.hash;") == "#/reports"
    assert console.switch_language(driver) == "en"
    assert driver.find_element("id", "reports-heading").text == \
        "Incident reports of your jurisdiction"
    console.switch_language(driver)

    server.flask("officers", "deactivate", "ca.login")  # the next request is refused
    driver.find_element("css selector", "#nav a[data-route='stays']").click()
    console.wait_for_route(driver, "login?expired=1")
    assert console.alert(driver)["text"].startswith("Phiên làm việc đã hết hạn.")
    driver.refresh()  # and the stored session is gone with it
    console.settled(driver)
    assert driver.execute_script("return location.hash;").startswith("#/login")
    no_console_errors(driver, "/api/v1/auth/officer-login", "/api/v1/police/residence/stays")


def test_an_expired_access_token_is_refreshed_without_the_officer_noticing(
        browser_ready: None, driver: Any, tmp_path: Path) -> None:
    short = LiveServer(tmp_path)
    short.env["ACCESS_TOKEN_SECONDS"] = "1"  # the refresh token still lasts the shift
    short.flask("db", "upgrade")
    short.start()
    try:
        officer = console.create_officer(short, "ca.refresh", province="01", commune=COMMUNE)
        console.login(driver, short.url, officer)
        time.sleep(7)  # past the token's second and the 5-second leeway of its check
        assert console.open_queue(driver, "stays") == []  # refreshed, then answered
        assert driver.execute_script("return location.hash;") == "#/stays"
        assert not console.alert(driver)["text"]
        refused = [e["message"] for e in console_errors(driver)]
        assert any("/api/v1/police/residence/stays" in m and "401" in m for m in refused)
        assert all("/api/v1/police/residence/stays" in m for m in refused)
        requests = re.findall(r'"route": "(/api/v1/[^"]+)", "status": (\d+)', short.log())
        assert requests[-3:] == [("/api/v1/police/residence/stays", "401"),
                                 ("/api/v1/auth/refresh", "200"),
                                 ("/api/v1/police/residence/stays", "200")]
    finally:
        short.stop()


def test_a_report_of_the_commune_is_queued_questioned_and_closed(
        server: LiveServer, driver: Any, citizen: Phone) -> None:
    filed = json.loads(citizen("report-file", "--category", "fraud", "--anonymous",
                               "--description", "A caller posing as my bank asked for the OTP.",
                               "--commune", COMMUNE, "--address", "Số 12 phố Kim Mã",
                               "--scam-phone", "0987 654 321"))
    elsewhere = json.loads(citizen("report-file", "--category", "traffic", "--description",
                                   "A broken traffic light.", "--commune", "00008",
                                   "--address", "Phố Đội Cấn"))
    case = filed["case_number"]
    officer = console.create_officer(server, "ca.badinh", province="01", commune=COMMUNE)
    console.login(driver, server.url, officer)

    rows = console.open_queue(driver, "reports")
    assert [row["case"] for row in rows] == [case]  # not the other commune's
    assert "Phường Ba Đình (00004)" in rows[0]["cells"]
    assert console.filter_queue(driver, category="traffic") == []
    assert [r["case"] for r in console.filter_queue(driver, category="fraud")] == [case]
    assert elsewhere["case_number"] not in driver.page_source
    console.screenshot(driver, "queue")

    # the keyboard: from the heading, Tab through the filters to the case's link, Enter
    console.tab_to(driver, f"#reports-table tr[data-case='{case}'] a")
    driver.switch_to.active_element.send_keys("\n")
    console.wait_for_route(driver, f"reports/{case}")
    opened = console.open_case(driver, case)
    assert opened["status"] == "received" and opened["history"] == ["create"]
    assert opened["acts"] == ["verify", "reject", "assign"]
    assert opened["indicators"] == ["+84987654321 — 1 tin báo trên cả nước"]
    asked = console.ask_question(driver, "What time did they call?")
    assert asked["history"] == ["create", "ask"]
    assert "What time did they call?" in asked["history_text"][-1]
    assert "What time did they call?" in citizen("report", case)  # the reporter sees it

    for status in ("verifying", "investigating"):
        assert console.transition(driver, status)["status"] == status
    closed = console.transition(driver, "closed", "The number was blocked.")
    assert closed["status"] == "closed" and closed["acts"] == []
    assert closed["history"] == ["create", "ask", "verify", "investigate", "close"]
    console.screenshot(driver, "case")

    final = json.loads(citizen("report", case, "--json"))
    assert final["status"] == "closed" and final["resolution"] == "The number was blocked."
    assert console.open_queue(driver, "reports", status="closed")[0]["case"] == case
    no_console_errors(driver)


def test_an_identity_basic_qr_verifies_with_its_claims_and_a_revoked_one_shows_why(
        server: LiveServer, driver: Any, citizen: Phone, tmp_path: Path) -> None:
    issued = json.loads(citizen("credential", "--type", "identity_basic", "--passcode", PASSCODE,
                                "--out", str(tmp_path / "qr.png")))
    officer = console.create_officer(server, "ca.qr", province="01", commune=COMMUNE)
    console.login(driver, server.url, officer)

    shown = console.verify_qr(driver, issued["qr"])
    assert shown["valid"] is True and shown["verdict"] == "HỢP LỆ"
    assert shown["offline"] == {"valid": True, "reason": None}
    assert shown["online"] == {"valid": True, "reason": None}
    assert shown["claims"] == {"nm": CITIZEN["full_name"], "lvl": "1", "id4": "2345"}
    console.screenshot(driver, "verify")

    scanned = console.verify_qr_image(driver, tmp_path / "qr.png")  # the picture, read by jsQR
    assert scanned["valid"] is True and scanned["claims"]["nm"] == CITIZEN["full_name"]

    tampered = issued["qr"][:-6] + ("AAAAAA" if not issued["qr"].endswith("AAAAAA") else "BBBBBB")
    forged = console.verify_qr(driver, tampered)
    assert forged["valid"] is False and forged["online"] is None  # refused offline already
    assert forged["reason"] in ("malformed", "bad_signature")

    api(server.url, "POST", f"/api/v1/credentials/{issued['credential_id']}/revoke",
        token=citizen.token())
    revoked = console.verify_qr(driver, issued["qr"])
    assert revoked["offline"] == {"valid": True, "reason": None}  # the signature still holds
    assert revoked["online"] == {"valid": False, "reason": "revoked"}
    assert revoked["valid"] is False and revoked["reason"] == "revoked"
    assert revoked["verdict"] == "KHÔNG HỢP LỆ"
    assert "thu hồi" in revoked["explanation"]
    console.screenshot(driver, "verify-revoked")
    no_console_errors(driver)


def test_a_citizen_registers_in_the_app_shows_a_qr_and_an_officer_verifies_it(
        server: LiveServer, tmp_path: Path) -> None:
    """The issue's journey: the citizen's app on a phone, the console on the desk."""
    person = citizen_app.person_from_demo(server)
    with chromium() as phone:
        citizen_app.mobile(phone)
        citizen_app.register(phone, server.url, person)
        citizen_app.login(phone, server.url, person)
        vn1 = citizen_app.show_qr(phone, "identity_basic", person.passcode)
        picture = tmp_path / "app-qr.png"
        picture.write_bytes(citizen_app.find(phone, "#qr-current").screenshot_as_png)
        assert console_errors(phone) == []

    officer = console.create_officer(server, "ca.journey", province="01")  # any unit verifies
    # the phone's screen held up to the laptop's camera (a fake camera filming the picture)
    camera = console.camera_showing(picture, tmp_path / "camera.y4m")
    with chromium(extra_flags=camera) as desk:
        console.login(desk, server.url, officer)
        shown = console.verify_qr_camera(desk)
        assert shown["valid"] is True and shown["reason"] is None
        assert shown["claims"]["nm"] == person.full_name
        assert shown["claims"]["id4"] == person.personal_id[-4:]
        assert not desk.find_element("id", "camera").is_displayed()  # released once read
        assert console.verify_qr_image(desk, picture)["claims"] == shown["claims"]
        assert console.verify_qr(desk, vn1)["claims"] == shown["claims"]
        no_console_errors(desk)


def fresh_citizen(server: LiveServer) -> tuple[dict[str, str], str, str]:
    """A demo citizen nobody has used yet: the registration's fields, province and commune."""
    printed = server.flask("demo", "citizen", "--fresh")
    values = {name: shlex.split(value)[0] for name, value in
              (line.split("=", 1) for line in printed.splitlines() if "=" in line)}
    person = {"personal_id": values["PERSONAL_ID"], "full_name": values["FULL_NAME"],
              "date_of_birth": values["DATE_OF_BIRTH"], "phone": values["PHONE"]}
    return person, values["PROVINCE"], values["COMMUNE"]


def at_the_desk(server: LiveServer, driver: Any, phone_home: Path, username: str
                ) -> tuple[dict[str, str], Phone, dict[str, Any]]:
    """A fresh citizen registered on a phone, and an officer of their commune logged in."""
    person, province, commune = fresh_citizen(server)
    phone = Phone(server, phone_home)
    account = phone.register(person)
    console.login(driver, server.url, console.create_officer(server, username, province=province,
                                                             commune=commune))
    return person, phone, account


def test_an_officer_raises_an_account_to_level_2_at_the_desk(
        server: LiveServer, driver: Any, tmp_path: Path) -> None:
    person, phone, account = at_the_desk(server, driver, tmp_path / "phone", "ca.desk")

    unknown = console.look_up(driver, "001099999999")
    assert unknown["found"] is False
    assert unknown["error"]["text"] == "Không tìm thấy công dân này trong địa bàn quản lý."

    before = console.look_up(driver, person["personal_id"])
    assert before["found"] and before["name"] == person["full_name"]
    assert before["account_id"] == str(account["account_id"])
    assert before["level"] == "1" and before["status"] == "active"
    console.screenshot(driver, "desk")

    other_card = person["personal_id"][:-1] + str((int(person["personal_id"][-1]) + 1) % 10)
    with pytest.raises(AssertionError, match="level2.card_mismatch"):
        console.raise_level2(driver, person["personal_id"], card_number=other_card)
    raised = console.raise_level2(driver, person["personal_id"])
    assert raised["level"] == "2"
    assert raised["message"] == f"Tài khoản {before['account_id']} đã ở mức 2."
    assert not driver.find_elements("id", "level2")  # nothing left to raise
    phone("login", "--personal-id", person["personal_id"], "--password", console.PASSWORD)
    assert json.loads(phone("me"))["level"] == 2

    console.logout(driver)
    driver.refresh()  # logged out for good: the stored session is gone
    console.settled(driver)
    assert driver.execute_script("return location.hash;").startswith("#/login")
    no_console_errors(driver, "/api/v1/police/citizens/lookup",
                      f"/api/v1/police/accounts/{before['account_id']}/level2")


def test_a_temporary_stay_is_checked_approved_and_then_shown_as_a_residence_qr(
        server: LiveServer, driver: Any, citizen: Phone) -> None:
    host, _, _ = fresh_citizen(server)  # no account: the police check the host in person
    today = dt.datetime.now(dt.timezone(dt.timedelta(hours=7))).date()
    stay = json.loads(citizen("stay-declare", "--commune", "00008", "--address",
                              "Số 5 phố Đội Cấn", "--start", today.isoformat(), "--end",
                              (today + dt.timedelta(days=90)).isoformat(), "--reason", "Đi làm",
                              "--host-personal-id", host["personal_id"]))
    officer = console.create_officer(server, "ca.ngocha", province="01", commune="00008")
    console.login(driver, server.url, officer)

    rows = console.open_queue(driver, "stays", status="awaiting_check")
    assert [row["id"] for row in rows] == [str(stay["id"])]
    console.screenshot(driver, "stays")
    opened = console.open_declaration(driver, "stays", stay["id"])
    assert opened["status"] == "awaiting_check" and opened["acts"] == ["check_host", "reject"]
    assert driver.find_element("id", "declarant").text.count(CITIZEN["full_name"]) == 1
    assert console.declaration_action(driver, "check_host")["status"] == "submitted"
    console.screenshot(driver, "stay")
    approved = console.approve_declaration(driver, stay["id"])
    assert approved["status"] == "approved" and approved["acts"] == []
    assert approved["history"][-2:] == ["check_host", "approve"]

    console.go(driver, "overdue")  # nothing is late in a fresh registry
    assert driver.find_element("id", "overdue-supervisor-only").is_displayed()
    console.screenshot(driver, "overdue")
    assert console.open_queue(driver, "pending") == []

    issued = json.loads(citizen("credential", "--type", "residence", "--passcode", PASSCODE))
    shown = console.verify_qr(driver, issued["qr"])
    assert shown["valid"] is True
    assert shown["claims"]["cm"] == "00008" and shown["claims"]["addr"] == "Số 5 phố Đội Cấn"
    no_console_errors(driver)


def test_a_lost_phone_is_replaced_and_a_squatted_identity_reclaimed_at_the_desk(
        server: LiveServer, driver: Any, tmp_path: Path) -> None:
    person, old_phone, account = at_the_desk(server, driver, tmp_path / "old-phone",
                                             "ca.recovery")

    new_home = tmp_path / "new-phone"
    device = NEW_PHONE.load_or_create_device(new_home)
    done = console.recover_device(driver, person["personal_id"], device_id=device.device_id,
                                  public_key=device.public_key_b64)
    assert done == f"Đã gắn thiết bị mới cho tài khoản {account['account_id']}."
    new_phone = Phone(server, new_home)
    new_phone("login", "--personal-id", person["personal_id"], "--password", console.PASSWORD)
    assert json.loads(new_phone("me"))["device_id"] == device.device_id
    assert run_client(server.url, old_phone.home, "me").returncode != 0  # its tokens died

    # Someone else registers a second citizen's id with their own phone (pending review);
    # the citizen comes to the desk with the chip card and takes the identity back.
    victim, province, commune = fresh_citizen(server)
    squatter = Phone(server, tmp_path / "squatter")
    squatter.register({**victim, "phone": "0399999999"})
    console.logout(driver)
    console.login(driver, server.url, console.create_officer(
        server, "ca.reclaim", province=province, commune=commune))
    assert console.look_up(driver, victim["personal_id"])["status"] == "pending_review"
    own = NEW_PHONE.load_or_create_device(tmp_path / "own-phone")
    said = console.reclaim(driver, victim["personal_id"], device_id=own.device_id,
                           public_key=own.public_key_b64, phone=victim["phone"],
                           reason="Registered by someone else; card checked in person")
    assert said.startswith("Đã gửi mã xác nhận đến") and victim["phone"][-2:] in said
    assert "Chờ duyệt" in said  # the squatter's account, now closed, was pending review
    console.screenshot(driver, "desk-reclaim")
    no_console_errors(driver)
