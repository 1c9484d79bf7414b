"""The report walkthrough on a live server, with every officer answer checked for the reporter.

``tests/docs`` runs docs/walkthroughs/reports.md as printed; this test also
reads every answer the officer gets and asserts none names the anonymous
reporter, and asserts the whole timeline.

A citizen files an anonymous scam report from the app; an officer of that
commune (created with the CLI, logged in with TOTP, working through the API
as the officers' tool does) asks a question; the citizen answers from the
app; the officer closes the case; the citizen reads the timeline.
"""
from __future__ import annotations

import json
import re
import urllib.parse
import urllib.request
from collections.abc import Iterator
from typing import Any

import pyotp
import pytest

from tests.e2e.live import LiveServer, run_client, running_server

PASSWORD = "correct horse battery staple"
PASSCODE = "246810"
#: The citizen ``flask demo seed`` always adds (Phường Ba Đình's commune code 00004, Hà Nội).
CITIZEN = {"personal_id": "001090012345", "full_name": "Nguyễn Văn An",
           "date_of_birth": "1990-05-12", "phone": "0912345678"}
COMMUNE = "00004"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """A server of this module's own."""
    with running_server(tmp_path_factory.mktemp("reports-e2e")) as live:
        yield live


def _api(url: str, method: str, path: str, body: dict[str, Any] | None = None,
         token: str | None = None) -> tuple[str, Any]:
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(url + path, method=method, headers=headers,
                                     data=json.dumps(body).encode() if body else None)
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(request, timeout=30) as answer:
        raw = answer.read().decode()
    return raw, json.loads(raw)


@pytest.mark.slow
def test_anonymous_scam_report_question_answer_close_timeline(server: LiveServer) -> None:
    home = server.tmp / "phone"

    def ok(*args: str) -> str:
        result = run_client(server.url, home, *args)
        assert result.returncode == 0, f"{args[0]}: {result.stderr}\n{server.log()[-3000:]}"
        return result.stdout

    ok("register", *(f"--{k.replace('_', '-')}={v}" for k, v in CITIZEN.items()),
       "--password", PASSWORD, "--passcode", PASSCODE)
    ok("login", "--personal-id", CITIZEN["personal_id"], "--password", PASSWORD)
    filed = json.loads(ok("report-file", "--category", "fraud", "--anonymous",
                          "--description", "A caller posing as my bank asked for the OTP.",
                          "--commune", COMMUNE, "--address", "Số 12 phố Kim Mã",
                          "--scam-phone", "0987 654 321"))
    case = filed["case_number"]
    assert re.fullmatch(r"TG-\d{4}-[0-9A-Z]{8}", case) and filed["anonymous"] is True

    made = json.loads(server.flask(
        "officers", "create", "--username", "ca.badinh", "--full-name", "Trần Văn Bình",
        "--province", "01", "--commune", COMMUNE, "--password-stdin",
        stdin=PASSWORD + "\n").strip().splitlines()[-1])
    secret = urllib.parse.parse_qs(urllib.parse.urlparse(made["totp_uri"]).query)["secret"][0]
    _raw, tokens = _api(server.url, "POST", "/api/v1/auth/officer-login", {
        "username": "ca.badinh", "password": PASSWORD, "totp": pyotp.TOTP(secret).now()})
    officer = tokens["access_token"]
    seen: list[str] = []

    def police(method: str, path: str = "", body: dict[str, Any] | None = None) -> Any:
        raw, data = _api(server.url, method, f"/api/v1/police/reports/{case}{path}", body,
                         officer)
        seen.append(raw)
        return data

    queue_raw, queue = _api(server.url, "GET", "/api/v1/police/reports", token=officer)
    seen.append(queue_raw)
    assert [item["case_number"] for item in queue["items"]] == [case]
    police("POST", "/questions", {"text": "What time did they call?"})

    timeline = ok("report", case)
    assert "What time did they call?" in timeline
    answered = ok("report-answer", case, "--text", "At 9 in the morning.")
    assert "At 9 in the morning." in answered

    assert police("GET")["history"][-1]["text"] == "At 9 in the morning."
    for action in ("verify", "investigate"):
        police("POST", "/status", {"action": action})
    police("POST", "/status", {"action": "close", "outcome": "The number was blocked."})

    final = json.loads(ok("report", case, "--json"))
    assert final["status"] == "closed" and final["resolution"] == "The number was blocked."
    assert [e["action"] for e in final["timeline"]] == [
        "create", "ask", "answer", "verify", "investigate", "close"]
    shown = ok("report", case)
    assert "status: closed" in shown and "outcome: The number was blocked." in shown
    for raw in seen:  # no officer answer names the anonymous reporter
        for secret_value in (CITIZEN["personal_id"], CITIZEN["full_name"], CITIZEN["phone"]):
            assert secret_value not in raw
