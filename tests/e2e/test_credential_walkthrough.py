"""The credentials walkthrough on a live server, then offline with the server stopped.

``tests/docs`` runs docs/walkthroughs/credentials.md as printed against a
running server; this test also stops the server before the offline check,
and asserts the claims and the officer's unit in the access log.

The mobile client issues an ``identity`` credential and saves its QR; an
officer verifies it online (the check lands in the citizen's access log);
the trust list is downloaded; the server is stopped; and the command-line
verifier still verifies the QR image.
"""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.e2e.live import ROOT, api, level2_citizen, running_server

CITIZEN = {"personal_id": "001090012345", "full_name": "Nguyễn Văn An",
           "date_of_birth": "1990-05-12", "phone": "0912345678"}
PASSWORD = "correct horse battery staple"
PASSCODE = "246810"


@pytest.mark.slow
def test_issue_show_verify_online_then_offline_with_the_server_stopped(tmp_path: Path) -> None:
    with running_server(tmp_path) as server:
        home = tmp_path / "phone"
        # Level 2 happens at a police office: an officer of Hanoi checks the chip card.
        client, _, officer = level2_citizen(server, home, CITIZEN, password=PASSWORD,
                                            passcode=PASSCODE)

        issued = json.loads(client("credential", "--type", "identity", "--passcode", PASSCODE,
                                   "--out", str(tmp_path / "qr.png")))
        assert issued["qr"].startswith("VN1:") and Path(issued["image"]).stat().st_size > 500

        online = api(server.url, "POST", "/api/v1/credentials/verify", {"qr": issued["qr"]},
                     officer)
        assert online["valid"] is True and online["claims"]["nm"] == CITIZEN["full_name"]
        session = json.loads((home / "session.json").read_text(encoding="utf-8"))
        log = api(server.url, "GET", "/api/v1/me/access-log", token=session["access_token"])
        assert [e["by"] for e in log["items"] if e["action"] == "credential.verified"] == [
            "Công an Thành phố Hà Nội"]

        trust = tmp_path / "vnid-keys.json"
        trust.write_text(json.dumps(api(server.url, "GET", "/.well-known/vnid-keys.json")))

    # The server is stopped: the bank's verifier needs nothing but the trust list.
    offline = subprocess.run([sys.executable, "-m", "identity.credentials", "verify", "--keys",
                              str(trust), str(tmp_path / "qr.png")], cwd=ROOT,
                             capture_output=True, text=True, timeout=60)
    assert offline.returncode == 0, offline.stderr
    result = json.loads(offline.stdout)
    assert result["valid"] is True and result["claims"]["id"] == CITIZEN["personal_id"]
