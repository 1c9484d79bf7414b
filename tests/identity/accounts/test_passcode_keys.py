"""The passcode's keyed hash: HMAC-SHA-256 under a versioned server key, re-keyed on success.

A passcode hash is ``hmac-sha256$v<version>$<salt>$<mac>``; the key is not in
the database. Hashes of argon2id (made before) and of an older key version
verify, and the next right passcode re-keys them under the active key, in the
act's transaction; a wrong one re-keys nothing.
"""
from __future__ import annotations

import hmac

import pytest
import sqlalchemy as sa

from config import TEST_KEYS
from identity.accounts import passcode as passcode_module
from identity.accounts.errors import PasscodeKeyUnavailable, WrongPasscode
from identity.accounts.models import Account
from identity.accounts.secrets import PasscodeKeys, hash_secret, passcode_keys
from identity.audit.service import Actor
from identity.protection import KeyMaterialError
from tests.factories import PASSCODE, add_account

ACTOR = Actor(type="test", id="passcode-keys")
KEYS = PasscodeKeys.from_setting(TEST_KEYS["PASSCODE_HMAC_KEYS"])
OLD_ONLY = PasscodeKeys(keys={1: KEYS.keys[1]})
OTHER = PasscodeKeys.from_setting("2:" + "A" * 43)


def test_the_stored_form_names_its_scheme_and_key_version():
    stored = KEYS.hash("123456", citizen_id=7)
    scheme, version, salt, mac = stored.split("$")
    assert (scheme, version) == ("hmac-sha256", "v2")
    assert len(salt) == 22 and len(mac) == 43  # 16 and 32 bytes, base64url
    assert "123456" not in stored
    assert KEYS.verify(stored, "123456", citizen_id=7)
    assert not KEYS.verify(stored, "123457", citizen_id=7)


def test_equal_passcodes_hash_apart():
    assert KEYS.hash("123456", citizen_id=7) != KEYS.hash("123456", citizen_id=7)


def test_a_hash_copied_to_another_citizen_does_not_verify():
    assert not KEYS.verify(KEYS.hash("123456", citizen_id=7), "123456", citizen_id=8)


def test_without_the_key_a_dump_checks_no_passcode():
    stored = KEYS.hash("123456", citizen_id=7)
    # Another key of the same version: every one of the million passcodes is wrong.
    assert not any(OTHER.verify(stored, f"{n:06d}", citizen_id=7)
                   for n in range(123_000, 124_000))


def test_the_mac_is_compared_in_constant_time(monkeypatch):
    seen = []
    real = hmac.compare_digest

    def spy(a, b):
        seen.append((len(a), len(b)))
        return real(a, b)

    monkeypatch.setattr(hmac, "compare_digest", spy)
    assert KEYS.verify(KEYS.hash("123456", citizen_id=7), "123456", citizen_id=7)
    assert seen == [(32, 32)]


@pytest.mark.parametrize("stored", [
    "", "demo", "hmac-sha256$v2$$", "hmac-sha256$2$abc$def", "hmac-sha256$vx$abc$def",
    "hmac-sha512$v2$abc$def", "hmac-sha256$v2$!!$??", "$argon2id$v=19$m=1,t=1,p=1$broken",
    "hmac-sha256$v٢$abc$def", "hmac-sha256$v$abc$def",
])
def test_malformed_hashes_verify_nothing(stored):
    assert KEYS.verify(stored, "123456", citizen_id=7) is False


def test_a_key_version_no_longer_held_is_unavailable_not_wrong():
    stored = PasscodeKeys(keys={3: b"\x03" * 32}).hash("123456", citizen_id=7)
    with pytest.raises(PasscodeKeyUnavailable) as raised:
        KEYS.verify(stored, "123456", citizen_id=7)
    assert raised.value.code == "passcode.key_unavailable"


def test_older_versions_and_argon2id_need_a_rekey():
    assert not KEYS.needs_rekey(KEYS.hash("123456", citizen_id=7))
    assert KEYS.needs_rekey(OLD_ONLY.hash("123456", citizen_id=7))
    assert KEYS.needs_rekey("$argon2id$v=19$m=19456,t=2,p=1$abc$def")
    assert KEYS.version_of(OLD_ONLY.hash("1", citizen_id=1)) == "v1"
    assert KEYS.version_of("$argon2id$x") == "argon2id" and KEYS.version_of("demo") == "other"


@pytest.mark.parametrize("spec", ["", "  ", "2:short", "v1:" + "A" * 43, "1:" + "A" * 43 + "!"])
def test_malformed_key_settings_are_refused(spec):
    with pytest.raises(KeyMaterialError, match="PASSCODE_HMAC_KEYS"):
        PasscodeKeys.from_setting(spec)


def test_malformed_passcode_keys_stop_the_start():
    from app import create_app
    from config import load_config
    with pytest.raises(KeyMaterialError, match="PASSCODE_HMAC_KEYS"):
        create_app({**load_config("testing", {}), "PASSCODE_HMAC_KEYS": "1:bm90LWEta2V5"})


def test_the_app_uses_the_configured_keys(app):
    with app.app_context():
        assert passcode_keys().keys == KEYS.keys and passcode_keys().active_version == 2


# --- Migration and rotation through confirm_passcode -----------------------------------------

def stored_hash(db_session, account: Account) -> str:
    return db_session.scalar(sa.select(Account.passcode_hash).where(Account.id == account.id))


@pytest.fixture()
def argon2_account(db_session, protector) -> Account:
    """An account whose passcode was hashed with argon2id, as before the keyed hash."""
    account = add_account(db_session, protector)
    account.passcode_hash = hash_secret(PASSCODE)
    db_session.commit()
    return account


def test_an_argon2id_passcode_still_confirms_and_is_rekeyed(db_session, argon2_account):
    passcode_module.confirm_passcode(db_session=db_session, actor=ACTOR, account=argon2_account,
                                     passcode=PASSCODE)
    db_session.commit()  # the act's commit
    stored = stored_hash(db_session, argon2_account)
    assert stored.startswith("hmac-sha256$v2$")
    assert KEYS.verify(stored, PASSCODE, citizen_id=argon2_account.citizen_id)
    assert argon2_account.passcode_hash == stored and argon2_account.failed_passcodes == 0
    # And the re-keyed hash confirms the next act.
    passcode_module.confirm_passcode(db_session=db_session, actor=ACTOR, account=argon2_account,
                                     passcode=PASSCODE)


def test_a_wrong_passcode_rekeys_nothing(db_session, argon2_account):
    before = stored_hash(db_session, argon2_account)
    with pytest.raises(WrongPasscode):
        passcode_module.confirm_passcode(db_session=db_session, actor=ACTOR,
                                         account=argon2_account, passcode="000000")
    assert stored_hash(db_session, argon2_account) == before
    assert argon2_account.failed_passcodes == 1


def test_an_old_key_version_confirms_and_is_rekeyed_under_the_active_one(db_session, protector):
    account = add_account(db_session, protector)
    account.passcode_hash = OLD_ONLY.hash(PASSCODE, citizen_id=account.citizen_id)
    db_session.commit()
    passcode_module.confirm_passcode(db_session=db_session, actor=ACTOR, account=account,
                                     passcode=PASSCODE)
    db_session.commit()
    assert KEYS.version_of(stored_hash(db_session, account)) == "v2"


def test_a_key_no_longer_held_answers_503_and_counts_nothing(client, db_session, protector):
    from tests.flows import Holder, assert_error
    holder = Holder.make(client, db_session, protector)
    account = holder.account_row()
    account.passcode_hash = PasscodeKeys(keys={9: b"\x09" * 32}).hash(
        PASSCODE, citizen_id=account.citizen_id)
    db_session.commit()
    answer = client.post("/api/v1/me/passcode", headers=holder.headers,
                         json={"passcode": PASSCODE, "new_passcode": "975310"})
    assert_error(answer, 503, "passcode.key_unavailable")
    assert holder.account_row().failed_passcodes == 0


def test_flask_keys_passcodes_counts_hashes_per_key_and_makes_the_next_key(app, db_session,
                                                                           protector):
    from app.cli import keys as keys_cli
    made = [add_account(db_session, protector) for _ in range(4)]
    made[1].passcode_hash = OLD_ONLY.hash(PASSCODE, citizen_id=made[1].citizen_id)
    made[2].passcode_hash = hash_secret(PASSCODE)
    made[3].passcode_hash = "demo"
    db_session.commit()
    counts = passcode_module.passcode_hashes_by_key(db_session=db_session)
    assert counts == {"v2": 1, "v1": 1, "argon2id": 1, "other": 1}
    answer = app.test_cli_runner().invoke(keys_cli.passcodes_command, ["--new-key"])
    assert answer.exit_code == 0, answer.output
    assert "v2 (active)" in answer.output and "argon2id" in answer.output
    entry = answer.output.strip().splitlines()[-1]
    assert entry.startswith("3:")
    assert PasscodeKeys.from_setting(entry + "," + TEST_KEYS["PASSCODE_HMAC_KEYS"]) \
        .active_version == 3
