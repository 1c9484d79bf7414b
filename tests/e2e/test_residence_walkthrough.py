"""The residence walkthrough on a live server, with a wrong passcode and the QR's claims.

``tests/docs`` runs docs/walkthroughs/residence.md as printed; this test also
tries the host's wrong passcode and asserts the residence credential's claims.

A citizen declares a temporary stay at their host's address, the host
confirms it in their own app with the passcode, the commune police approve
it (through the API, as the officers' tool does), and the citizen shows it
as a ``residence`` QR credential, which an officer verifies online.
"""
from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from tests.e2e.live import (LiveServer, api, fresh_demo_citizen, officer_token, run_client,
                            running_server)

CITIZEN = {"personal_id": "001090012345", "full_name": "Nguyễn Văn An",
           "date_of_birth": "1990-05-12", "phone": "0912345678"}
PASSWORD = "correct horse battery staple"
PASSCODE = "246810"


def demo_host(server: LiveServer) -> dict[str, str]:
    """A demo citizen nobody has used yet (``flask demo citizen --fresh``): the host."""
    values = fresh_demo_citizen(server)
    assert values["PHONE"], "a fresh demo citizen has a phone"
    return {"personal_id": values["PERSONAL_ID"], "full_name": values["FULL_NAME"],
            "date_of_birth": values["DATE_OF_BIRTH"], "phone": values["PHONE"],
            "province_code": values["PROVINCE"], "commune_code": values["COMMUNE"],
            "address": values["ADDRESS"]}


@pytest.mark.slow
def test_stay_declared_confirmed_approved_and_shown_as_a_qr(tmp_path: Path) -> None:
    with running_server(tmp_path) as server:
        host = demo_host(server)
        citizen_home, host_home = tmp_path / "citizen-phone", tmp_path / "host-phone"

        def ok(home: Path, *args: str) -> str:
            done = run_client(server.url, home, *args)
            assert done.returncode == 0, f"{args[0]}: {done.stderr}\n{server.log()[-3000:]}"
            return done.stdout

        for home, person in ((citizen_home, CITIZEN), (host_home, host)):
            ok(home, "register", "--personal-id", person["personal_id"], "--full-name",
               person["full_name"], "--date-of-birth", person["date_of_birth"], "--phone",
               person["phone"], "--password", PASSWORD, "--passcode", PASSCODE)
            ok(home, "login", "--personal-id", person["personal_id"], "--password", PASSWORD)

        today = (dt.datetime.now(dt.timezone.utc) + dt.timedelta(hours=7)).date()
        end = today + dt.timedelta(days=180)
        stay = json.loads(ok(citizen_home, "stay-declare", "--commune", host["commune_code"],
                             "--address", host["address"], "--start", today.isoformat(),
                             "--end", end.isoformat(), "--reason", "Đi làm",
                             "--host-personal-id", host["personal_id"]))
        assert stay["status"] == "awaiting_host"

        pending = json.loads(ok(host_home, "host-confirmations"))
        assert [item["id"] for item in pending["items"]] == [stay["id"]]
        wrong = run_client(server.url, host_home, "host-confirm", "--stay-id", str(stay["id"]),
                           "--passcode", "135790")
        assert wrong.returncode == 1 and wrong.stderr.startswith("error 401 passcode.wrong")
        confirmed = json.loads(ok(host_home, "host-confirm", "--stay-id", str(stay["id"]),
                                  "--passcode", PASSCODE))
        assert confirmed["status"] == "submitted"

        officer = officer_token(server, "ca.lada", PASSWORD, province=host["province_code"],
                                commune=host["commune_code"])
        queue = api(server.url, "GET", "/api/v1/police/residence/stays", token=officer)
        assert [item["id"] for item in queue["items"]] == [stay["id"]]
        done = api(server.url, "POST", f"/api/v1/police/residence/stays/{stay['id']}/actions",
                   {"action": "approve"}, token=officer)
        assert done["status"] == "approved"

        [mine] = json.loads(ok(citizen_home, "stays"))["items"]
        assert (mine["status"], mine["in_force"]) == ("approved", True)

        shown = json.loads(ok(citizen_home, "credential", "--type", "residence", "--passcode",
                              PASSCODE, "--out", str(tmp_path / "residence.png")))
        assert (tmp_path / "residence.png").read_bytes().startswith(b"\x89PNG")
        checked = api(server.url, "POST", "/api/v1/credentials/verify", {"qr": shown["qr"]},
                      token=officer)
        assert checked["valid"] is True, checked
        assert checked["claims"] == {
            "id": CITIZEN["personal_id"], "nm": CITIZEN["full_name"], "addr": host["address"],
            "cm": host["commune_code"], "fr": today.isoformat(), "to": end.isoformat()}
