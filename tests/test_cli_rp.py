"""``flask rp create|list|disable|rotate-secret``."""
from __future__ import annotations

import json

import socket

import pytest
import sqlalchemy as sa
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from identity.relying_parties import callbacks, parties
from identity.relying_parties.models import RelyingParty


def _created(result) -> dict:
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.fixture()
def dns(monkeypatch):
    """A resolver the test controls: name -> addresses (unknown names do not resolve)."""
    answers = {"bank-a.example": ["93.184.215.14"]}

    def resolve(host, port):
        if host not in answers:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return answers[host]
    monkeypatch.setattr(callbacks, "resolve_host", resolve)
    return answers


def test_create_shows_the_secret_once_and_keeps_its_digest(app, db_session, redis, dns):
    runner = app.test_cli_runner()
    created = _created(runner.invoke(args=[
        "rp", "create", "--name", "Ngân hàng A", "--kind", "bank",
        "--scopes", "identity.match,identity.consent", "--quota", "identity.match=500",
        "--callback-url", "https://bank-a.example/vnid/consents"]))
    assert parties.SECRET_RE.fullmatch(created["client_secret"])
    assert parties.CLIENT_ID_RE.fullmatch(created["client_id"])
    assert created["callback_key"] and created["scopes"] == ["identity.consent",
                                                             "identity.match"]
    party = db_session.scalar(sa.select(RelyingParty).where(RelyingParty.name == "Ngân hàng A"))
    assert party.secret_hash == parties.secret_digest(created["client_secret"])
    assert created["callback_key"].encode() not in party.callback_key
    listed = runner.invoke(args=["rp", "list"]).output
    assert "Ngân hàng A\tbank\tactive" in listed and "identity.match=0/500" in listed
    assert created["client_secret"] not in listed

    again = runner.invoke(args=["rp", "create", "--name", "Ngân hàng A", "--kind", "bank",
                                "--scopes", "identity.match"])
    assert again.exit_code == 1 and "rp.exists" in again.output
    bad = runner.invoke(args=["rp", "create", "--name", "B", "--kind", "bank",
                              "--scopes", "everything"])
    assert bad.exit_code == 1 and "rp.scope_unknown" in bad.output
    local = runner.invoke(args=["rp", "create", "--name", "C", "--kind", "bank",
                                "--scopes", "identity.match", "--callback-url",
                                "file:///etc/passwd"])
    assert local.exit_code == 1 and "rp.callback_url" in local.output


def test_rotate_and_disable(app, db_session, redis):
    runner = app.test_cli_runner()
    created = _created(runner.invoke(args=["rp", "create", "--name", "Viettel", "--kind",
                                           "telco", "--scopes", "sim.verify"]))
    rotated = _created(runner.invoke(args=["rp", "rotate-secret", "Viettel"]))
    assert rotated["client_id"] == created["client_id"]
    assert rotated["client_secret"] != created["client_secret"]
    party = db_session.scalar(sa.select(RelyingParty).where(RelyingParty.name == "Viettel"))
    assert party.secret_hash == parties.secret_digest(rotated["client_secret"])
    assert runner.invoke(args=["rp", "disable", created["client_id"]]).exit_code == 0
    assert "Viettel\ttelco\tdisabled" in runner.invoke(args=["rp", "list"]).output
    missing = runner.invoke(args=["rp", "disable", "nobody"])
    assert missing.exit_code == 1 and "rp.not_found" in missing.output


def test_a_public_key_must_be_p256(app, db_session, redis, tmp_path):
    good, bad = tmp_path / "good.pem", tmp_path / "bad.pem"
    for path, curve in ((good, ec.SECP256R1()), (bad, ec.SECP384R1())):
        path.write_bytes(ec.generate_private_key(curve).public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    runner = app.test_cli_runner()
    base = ["rp", "create", "--kind", "bank", "--scopes", "identity.match", "--public-key"]
    assert runner.invoke(args=[*base, str(good), "--name", "Good"]).exit_code == 0
    refused = runner.invoke(args=[*base, str(bad), "--name", "Bad"])
    assert refused.exit_code == 1 and "rp.public_key" in refused.output


@pytest.mark.parametrize("url, words", [
    ("http://127.0.0.1:8080/cb", "loopback, private"),
    ("https://10.1.2.3/cb", "loopback, private"),
    ("https://169.254.169.254/latest/meta-data", "loopback, private"),
    ("https://[::1]/cb", "loopback, private"),
    ("https://[::ffff:127.0.0.1]/cb", "loopback, private"),
    ("https://0x7f000001/cb", "loopback, private"),
    ("https://2130706433/cb", "loopback, private"),
    ("https://0177.0.0.1/cb", "loopback, private"),
    ("https://intranet.example/cb", "loopback, private"),
    ("https://nowhere.example/cb", "does not resolve"),
    ("https://user:pw@bank-a.example/cb", "no credentials"),
])
def test_create_refuses_callbacks_to_internal_addresses(app, db_session, redis, dns, url,
                                                        words):
    dns["intranet.example"] = ["93.184.215.15", "192.168.1.20"]  # one private address is enough
    result = app.test_cli_runner().invoke(args=[
        "rp", "create", "--name", "Ngân hàng B", "--kind", "bank", "--scopes",
        "identity.consent", "--callback-url", url])
    output = " ".join(result.output.split())  # the console wraps long lines
    assert result.exit_code == 1, output
    assert "rp.callback_url" in output and words in output
    assert db_session.scalar(sa.select(RelyingParty).where(
        RelyingParty.name == "Ngân hàng B")) is None


def test_production_callbacks_are_https_only(app, db_session, redis, dns, monkeypatch):
    monkeypatch.setitem(app.config, "RP_CALLBACKS_HTTPS_ONLY", True)
    runner = app.test_cli_runner()
    base = ["rp", "create", "--kind", "bank", "--scopes", "identity.consent", "--callback-url"]
    plain = runner.invoke(args=[*base, "http://bank-a.example/cb", "--name", "Plain"])
    assert plain.exit_code == 1 and "scheme must be https" in " ".join(plain.output.split())
    assert runner.invoke(args=[*base, "https://bank-a.example/cb", "--name", "Tls"]
                         ).exit_code == 0


def test_set_callback_checks_the_url_like_create(app, db_session, redis, dns):
    runner = app.test_cli_runner()
    _created(runner.invoke(args=["rp", "create", "--name", "Ngân hàng C", "--kind", "bank",
                                 "--scopes", "identity.consent"]))
    refused = runner.invoke(args=["rp", "set-callback", "Ngân hàng C", "https://[fe80::1]/cb"])
    assert refused.exit_code == 1 and "rp.callback_url" in refused.output
    changed = _created(runner.invoke(args=["rp", "set-callback", "Ngân hàng C",
                                           "https://bank-a.example/vnid"]))
    assert changed["callback_url"] == "https://bank-a.example/vnid" and changed["callback_key"]
    party = db_session.scalar(sa.select(RelyingParty).where(RelyingParty.name == "Ngân hàng C"))
    assert party.callback_url == "https://bank-a.example/vnid" and party.callback_key
    again = _created(runner.invoke(args=["rp", "set-callback", "Ngân hàng C",
                                         "https://bank-a.example/v2"]))
    assert again["callback_key"] is None  # the key is kept, not shown again
    removed = _created(runner.invoke(args=["rp", "set-callback", "Ngân hàng C"]))
    assert removed["callback_url"] is None
