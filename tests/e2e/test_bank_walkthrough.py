"""The bank walkthrough's clients side by side, with what docs/walkthroughs/bank.md only shows.

``tests/docs`` runs the document as printed; this test asserts the rest: the
exact party and purpose the citizen reads, the claims of the consent
credential, the bank's name on each of its acts in the access log, the
shares listed. And the bank's client stops before it sends anything when
its offline verifier does not import.

A bank registered with ``flask rp create`` matches a customer, asks for
consent and waits; the citizen sees the bank's name and purpose in the
mobile client and approves with the passcode; the bank receives the
``consent`` credential once and verifies it offline against the trust list;
the citizen's access log and data-sharing list show the bank.
"""
from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.e2e.live import ROOT, run_client, running_server

BANK = ROOT / "examples" / "bank_client.py"
CITIZEN = {"personal_id": "001090012345", "full_name": "Nguyễn Văn An",
           "date_of_birth": "1990-05-12", "phone": "0912345678"}
PASSWORD = "correct horse battery staple"
PASSCODE = "246810"


def _bank_command(url: str, client_id: str, secret: str, *args: str) -> list[str]:
    return [sys.executable, str(BANK), "--server", url, "--client-id", client_id, *args]


def _bank_env(secret: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("VNID_")}
    env.update(VNID_CLIENT_SECRET=secret, no_proxy="127.0.0.1,localhost",
               NO_PROXY="127.0.0.1,localhost", PYTHONIOENCODING="utf-8")
    return env


def test_a_verifying_command_stops_before_sending_when_the_verifier_does_not_import(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """A consent's credential is fetched once: never spend it on a client that cannot verify."""
    spec = importlib.util.spec_from_file_location("bank_client", BANK)
    assert spec is not None and spec.loader is not None
    bank_client = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bank_client)
    monkeypatch.setitem(sys.modules, "identity.credentials", None)  # import fails
    monkeypatch.setenv("VNID_CLIENT_SECRET", "vnidrp_secret")
    sent: list[str] = []
    monkeypatch.setattr(bank_client.Bank, "_send", lambda self, *a, **k: sent.append(a[1]))
    for command in (["fetch", "c1"], ["kyc", "--personal-id", CITIZEN["personal_id"],
                                      "--attributes", "full_name", "--purpose", "x"]):
        assert bank_client.main(["--client-id", "rp1", *command]) == 1
        assert ".venv/bin/python" in capsys.readouterr().err
    assert sent == []


@pytest.mark.slow
def test_a_consented_share_between_the_bank_and_the_mobile_client(tmp_path: Path) -> None:
    with running_server(tmp_path) as server:
        server.flask("keys", "rotate")
        party = json.loads(server.flask(
            "rp", "create", "--name", "Ngân hàng Ngoại thương", "--kind", "bank",
            "--scopes", "identity.match,identity.consent,credentials.verify"
        ).strip().splitlines()[-1])
        client_id, secret = party["client_id"], party["client_secret"]

        def bank(*args: str) -> dict:
            done = subprocess.run(_bank_command(server.url, client_id, secret, *args), cwd=ROOT,
                                  env=_bank_env(secret), capture_output=True, text=True,
                                  encoding="utf-8", timeout=60)
            assert done.returncode == 0, f"{args[0]}: {done.stderr}\n{server.log()[-3000:]}"
            assert secret not in done.stdout + done.stderr
            return json.loads(done.stdout)

        home = tmp_path / "phone"

        def phone(*args: str) -> str:
            done = run_client(server.url, home, *args)
            assert done.returncode == 0, f"{args[0]}: {done.stderr}\n{server.log()[-3000:]}"
            return done.stdout

        phone("register", "--personal-id", CITIZEN["personal_id"], "--full-name",
              CITIZEN["full_name"], "--date-of-birth", CITIZEN["date_of_birth"], "--phone",
              CITIZEN["phone"], "--password", PASSWORD, "--passcode", PASSCODE)
        phone("login", "--personal-id", CITIZEN["personal_id"], "--password", PASSWORD)

        assert bank("match", "--personal-id", CITIZEN["personal_id"], "--full-name",
                    CITIZEN["full_name"], "--date-of-birth", CITIZEN["date_of_birth"]) == {
            "match": True, "fields": {"full_name": True, "date_of_birth": True}}

        # The bank asks and waits; meanwhile the citizen answers in the app.
        kyc = subprocess.Popen(_bank_command(
            server.url, client_id, secret, "kyc", "--personal-id", CITIZEN["personal_id"],
            "--attributes", "full_name,date_of_birth,permanent_address", "--purpose",
            "Mở tài khoản thanh toán", "--wait", "45"), cwd=ROOT, env=_bank_env(secret),
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, encoding="utf-8")
        try:
            pending: list = []
            for _ in range(50):
                pending = json.loads(phone("consents", "--pending"))["items"]
                if pending:
                    break
                time.sleep(0.2)
            assert [(p["party"], p["purpose"]) for p in pending] == [
                ("Ngân hàng Ngoại thương", "Mở tài khoản thanh toán")]
            phone("consent-approve", pending[0]["id"], "--passcode", PASSCODE)
            out, err = kyc.communicate(timeout=60)
        finally:
            kyc.kill()
        assert kyc.returncode == 0, err
        received = json.loads(out)
        assert received["status"] == "approved" and received["offline"]["valid"] is True
        claims = received["offline"]["claims"]
        assert claims["id"] == CITIZEN["personal_id"] and claims["nm"] == CITIZEN["full_name"]
        assert set(claims) == {"id", "cr", "nm", "dob", "addr"}

        # Once only: the bank cannot fetch it again.
        again = subprocess.run(_bank_command(server.url, client_id, secret, "fetch",
                                             received["consent_request_id"]),
                               cwd=ROOT, env=_bank_env(secret), capture_output=True, text=True,
                               encoding="utf-8", timeout=60)
        assert again.returncode == 1 and "consent.already_fetched" in again.stderr

        log = json.loads(phone("access-log", "--limit", "50"))["items"]
        by_bank = {e["action"] for e in log if e["by"] == "Ngân hàng Ngoại thương"}
        assert {"rp.identity_match", "rp.consent_requested", "consent.approved",
                "rp.data_shared"} <= by_bank
        shares = json.loads(phone("data-sharing"))["items"]
        assert [(s["party"], s["attributes"]) for s in shares] == [
            ("Ngân hàng Ngoại thương", ["full_name", "date_of_birth", "permanent_address"])]
