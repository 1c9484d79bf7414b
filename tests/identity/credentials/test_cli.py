"""``flask keys`` and the offline command-line verifier that police and banks run."""
from __future__ import annotations

import contextlib
import datetime as dt
import io
import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from app.cli import keys as keys_cli
from identity.credentials import __main__ as verifier
from identity.credentials import service, vn1
from identity.credentials.models import IssuerKey
from tests.identity.credentials.vn1_helpers import make, new_key

KEY = new_key()


@pytest.fixture()
def trust_file(tmp_path: Path) -> Path:
    path = tmp_path / "vnid-keys.json"
    path.write_text(json.dumps({"issuer": "VN", "keys": [vn1.jwk(
        KEY.public_key(), status="active", not_before=dt.datetime(2026, 1, 1,
                                                                  tzinfo=dt.timezone.utc),
        not_after=None)]}))
    return path


def run(*args: str) -> tuple[int, dict]:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        status = verifier.main(list(args))
    return status, json.loads(out.getvalue()) if out.getvalue().strip() else {}


def test_a_valid_text_prints_the_claims_and_exits_0(trust_file):
    text = make(KEY, issued_at=int(time.time()))
    status, result = run("verify", "--keys", str(trust_file), text)
    assert status == 0 and result["valid"] is True and result["claims"]["nm"] == "Nguyễn Văn An"


def test_a_qr_image_is_read_and_verified(trust_file, tmp_path):
    text = make(KEY, issued_at=int(time.time()), audience="rp:vcb01")
    image = tmp_path / "qr.png"
    image.write_bytes(service.render_qr(text, "png"))
    status, result = run("verify", "--keys", str(trust_file), "--audience", "rp:vcb01",
                         str(image))
    assert status == 0 and result["type"] == "identity"
    status, result = run("verify", "--keys", str(trust_file), "--audience", "rp:tcb02",
                         str(image))
    assert status == 1 and result == {"valid": False, "reason": "wrong_audience"}


def test_failures_print_the_reason_and_exit_1(trust_file):
    status, result = run("verify", "--keys", str(trust_file),
                         make(KEY, issued_at=int(time.time()) - 1_000))
    assert (status, result["reason"]) == (1, "expired")
    status, result = run("verify", "--keys", str(trust_file), make(new_key()))
    assert (status, result["reason"]) == (1, "unknown_key")


def test_usage_errors_exit_2(trust_file, tmp_path, capsys):
    assert verifier.main(["verify", "--keys", str(trust_file), "no-such-file.png"]) == 2
    blank = tmp_path / "blank.png"
    from PIL import Image
    Image.new("L", (50, 50), 255).save(blank)
    assert verifier.main(["verify", "--keys", str(trust_file), str(blank)]) == 2
    bad_keys = tmp_path / "keys.json"
    bad_keys.write_text("{}")
    assert verifier.main(["verify", "--keys", str(bad_keys), "VN1:AAA"]) == 2
    assert "error:" in capsys.readouterr().err


def test_the_module_runs_as_a_program(trust_file):
    answer = subprocess.run([sys.executable, "-m", "identity.credentials", "verify", "--keys",
                             str(trust_file), make(KEY, issued_at=int(time.time()))],
                            capture_output=True, text=True, check=False)
    assert answer.returncode == 0, answer.stderr
    assert json.loads(answer.stdout)["valid"] is True


def test_flask_keys_rotate_list_and_revoke(app, db_session):
    runner = app.test_cli_runner()
    assert runner.invoke(keys_cli.rotate_command).exit_code == 0
    assert runner.invoke(keys_cli.rotate_command).exit_code == 0
    first, second = sorted(db_session.query(IssuerKey).all(), key=lambda k: k.id)
    assert (first.status, second.status) == ("retired", "active")
    listed = runner.invoke(keys_cli.list_command)
    assert first.kid in listed.output and "retired" in listed.output
    assert runner.invoke(keys_cli.revoke_command, [first.kid]).exit_code == 0
    db_session.refresh(first)
    assert first.status == "revoked"
    again = runner.invoke(keys_cli.revoke_command, [first.kid])
    assert again.exit_code == 1 and "issuer_key.already_revoked" in again.output
    assert runner.invoke(keys_cli.revoke_command, ["nope"]).exit_code == 1


def test_flask_keys_revoke_takes_a_kid_that_begins_with_a_dash(app, db_session):
    """One kid in 64 begins with "-" (base64url): a kid, not an unknown option (exit 2)."""
    runner = app.test_cli_runner()
    assert runner.invoke(keys_cli.rotate_command).exit_code == 0
    assert runner.invoke(keys_cli.rotate_command).exit_code == 0
    first = min(db_session.query(IssuerKey).all(), key=lambda k: k.id)
    first.kid = "-" + first.kid[1:]
    db_session.flush()
    revoked = runner.invoke(keys_cli.revoke_command, [first.kid])
    assert revoked.exit_code == 0, revoked.output
    db_session.refresh(first)
    assert first.status == "revoked"
    unknown = runner.invoke(keys_cli.revoke_command, ["-dX5nKxMIgE"])
    assert unknown.exit_code == 1 and "No such option" not in unknown.output, unknown.output
