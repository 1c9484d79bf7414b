"""Access and refresh tokens: forgeries refused, rotation, revocation on the next request.

Every forged token is built from the claims of a token the service really
issued, and the same claims re-signed by hand with the real key and ``kid``
are accepted: so each refusal is for the forgery, not for a claim we got wrong.
Refresh tokens are tagged, not signed (:mod:`identity.accounts.refresh_tokens`): the same
holds for them, a token re-tagged by hand with the real key being accepted.
"""
from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json
import os
from typing import Any

import jwt
import pytest
import sqlalchemy as sa
import time_machine
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from app import create_app
from app.auth import parse_signing_keys
from app.extensions import db
from config import TEST_KEYS, load_config, token_signing_key
from identity.accounts import officers, refresh_tokens
from identity.audit.models import AuditEvent
from identity.audit.service import Actor
from tests import flows
from tests.factories import add_citizen

ME = "/api/v1/me"
REFRESH = "/api/v1/auth/refresh"
PENDING = "/api/v1/police/accounts/pending"
OPERATOR = Actor(type="operator", id="test")


# --- Helpers ---------------------------------------------------------------------------------

def signing_keys() -> dict[str, ec.EllipticCurvePrivateKey]:
    """The testing configuration's token keys, in order: the first signs, all verify."""
    return parse_signing_keys(TEST_KEYS["TOKEN_SIGNING_KEYS"])


def signing_kid() -> str:
    return next(iter(signing_keys()))


def older_kid() -> str:
    return list(signing_keys())[1]


def claims_of(token: str) -> dict[str, Any]:
    """A token's claims, read without checking anything."""
    return dict(jwt.decode(token, options={"verify_signature": False}))


def refresh_parts(token: str) -> tuple[str, str, int]:
    """A refresh token's kid, session id and generation, read without checking its tag."""
    assert token.startswith(refresh_tokens.PREFIX), token
    kid, sid, generation, _tag = token[len(refresh_tokens.PREFIX):].split(".")
    return kid, sid, int(generation)


def retag(sid: str, generation: int, *, kid: str | None = None,
          key: ec.EllipticCurvePrivateKey | None = None) -> str:
    """A refresh token of ``sid`` at ``generation``, tagged with the refresh key derived from the
    real signing key of ``kid`` (the first unless given), or from ``key``."""
    kid = kid or signing_kid()
    derived = refresh_tokens.derive_keys({kid: key or signing_keys()[kid]})
    return refresh_tokens.make(derived, sid, generation)


def segment(data: dict[str, Any]) -> str:
    """One base64url JWT segment of a JSON object."""
    raw = json.dumps(data, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def sign(claims: dict[str, Any], *, kid: str | None = None,
         key: ec.EllipticCurvePrivateKey | None = None) -> str:
    """An ES256 token over ``claims``, with the real key of ``kid`` unless another is given."""
    kid = kid or signing_kid()
    key = key or signing_keys()[kid]
    return jwt.encode(claims, key, algorithm="ES256", headers={"kid": kid})


def alg_none(claims: dict[str, Any]) -> str:
    """An unsigned token: ``alg: none`` and an empty signature."""
    return f"{segment({'alg': 'none', 'typ': 'JWT', 'kid': signing_kid()})}.{segment(claims)}."


def hs256_with_public_key(claims: dict[str, Any], *, with_kid: bool = True) -> str:
    """The classic confusion: HS256 keyed with the service's public key in PEM.

    Built by hand: PyJWT itself refuses to use a PEM key as an HMAC secret.
    """
    secret = signing_keys()[signing_kid()].public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    header = {"alg": "HS256", "typ": "JWT", **({"kid": signing_kid()} if with_kid else {})}
    signing_input = f"{segment(header)}.{segment(claims)}"
    mac = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{base64.urlsafe_b64encode(mac).decode().rstrip('=')}"


def foreign_key(claims: dict[str, Any]) -> str:
    """Signed by a P-256 key that is not ours, under one of our kids."""
    return sign(claims, key=ec.generate_private_key(ec.SECP256R1()))


def unknown_kid(claims: dict[str, Any]) -> str:
    """Signed by our real key, but under a kid we never issued."""
    return sign(claims, kid="test-9", key=signing_keys()[signing_kid()])


def no_kid(claims: dict[str, Any]) -> str:
    """Signed by our real key, without a kid."""
    return jwt.encode(claims, signing_keys()[signing_kid()], algorithm="ES256")


def other_issuer(claims: dict[str, Any]) -> str:
    return sign({**claims, "iss": "someone-else"})


def other_audience(claims: dict[str, Any]) -> str:
    return sign({**claims, "aud": "another-api"})


def assert_error(answer: Any, status: int, code: str) -> None:
    """The uniform error body with this status and code, naming no field."""
    assert flows.assert_error(answer, status, code)["errors"] == {}


def citizen_session(client: Any, db_session: Any, protector: Any,
                    **overrides: Any) -> tuple[Any, dict[str, Any], dict[str, Any]]:
    """A registered citizen logged in from their phone: (citizen, account, tokens)."""
    citizen = add_citizen(db_session, protector, **overrides)
    phone = flows.Phone()
    account = flows.register(client, citizen, phone)
    tokens = flows.login(client, citizen.personal_id, phone)
    return citizen, account, tokens


@pytest.fixture()
def session(client, db_session, protector):
    """One logged-in citizen."""
    return citizen_session(client, db_session, protector)


def officer_tokens(client: Any, db_session: Any, protector: Any, **kwargs: Any) -> Any:
    """An officer (province 01 unless told) logged in: (officer, tokens)."""
    officer = flows.logged_in_officer(client, db_session, protector, **kwargs)
    return officer, officer.tokens


# --- Forged access tokens --------------------------------------------------------------------

def test_the_same_claims_signed_by_hand_with_the_real_key_are_accepted(client, session):
    _, account, tokens = session
    claims = claims_of(tokens["access_token"])
    answer = client.get(ME, headers=flows.bearer(sign(claims)))
    assert answer.status_code == 200, answer.get_json()
    assert answer.get_json()["account_id"] == account["account_id"]


@pytest.mark.parametrize("forge", [alg_none, hs256_with_public_key, foreign_key, unknown_kid,
                                   no_kid, other_issuer, other_audience])
def test_forged_access_tokens_are_refused(client, session, forge):
    _, _, tokens = session
    answer = client.get(ME, headers=flows.bearer(forge(claims_of(tokens["access_token"]))))
    assert_error(answer, 401, "auth.invalid_token")


def test_hs256_with_the_public_key_is_refused_without_a_kid_too(client, session):
    _, _, tokens = session
    token = hs256_with_public_key(claims_of(tokens["access_token"]), with_kid=False)
    assert_error(client.get(ME, headers=flows.bearer(token)), 401, "auth.invalid_token")


def test_a_tampered_payload_is_refused(client, db_session, protector, session):
    _, _, tokens = session
    _, other, _ = citizen_session(client, db_session, protector)
    header, payload, signature = tokens["access_token"].split(".")
    claims = claims_of(tokens["access_token"])
    for changed in ({**claims, "sub": f"citizen:{other['account_id']}"}, {**claims, "lvl": 2}):
        token = f"{header}.{segment(changed)}.{signature}"
        assert_error(client.get(ME, headers=flows.bearer(token)), 401, "auth.invalid_token")
        # The very same change, signed with the real key, would pass: the signature is why.
        assert client.get(ME, headers=flows.bearer(sign(changed))).status_code == 200


def test_garbage_and_missing_tokens_are_refused(client, session):
    assert_error(client.get(ME, headers=flows.bearer("not.a.jwt")), 401, "auth.invalid_token")
    assert_error(client.get(ME), 401, "auth.required")


def _segment(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


@pytest.mark.parametrize("header", [
    b"[]", b"null", b"\"ES256\"", b"{", b"\xff\xfe", b"", b'{"alg":"ES256","kid":"test-2"}x'])
def test_tokens_with_an_unreadable_header_are_refused(client, session, header):
    token = f"{_segment(header)}.{_segment(b'{}')}.{_segment(os.urandom(64))}"
    assert_error(client.get(ME, headers=flows.bearer(token)), 401, "auth.invalid_token")
    assert_error(client.get(ME, headers=flows.bearer("%%%." + token)), 401, "auth.invalid_token")


def test_our_header_over_a_garbage_payload_or_signature_is_refused(client, session):
    access = session[2]["access_token"]
    header, claims, signature = access.split(".")
    for token in (f"{header}.!!!!.{signature}", f"{header}.{claims}.!!!!",
                  f"{header}.{claims}", f"{header}.{claims}.{signature}.{signature}",
                  f"{header}.{_segment(b'[1]')}.{signature}"):
        assert_error(client.get(ME, headers=flows.bearer(token)), 401, "auth.invalid_token")
    assert client.get(ME, headers=flows.bearer(access)).status_code == 200


# --- Expiry and lifetime ---------------------------------------------------------------------

def test_access_tokens_live_at_most_ten_minutes(session):
    _, _, tokens = session
    claims = claims_of(tokens["access_token"])
    assert 0 < claims["exp"] - claims["iat"] <= 600
    assert tokens["expires_in"] <= 600


def test_the_access_token_lifetime_cannot_be_configured_above_ten_minutes():
    assert load_config("testing", {"ACCESS_TOKEN_SECONDS": "3600"})["ACCESS_TOKEN_SECONDS"] == 600


def test_an_expired_access_token_is_refused(client, session):
    _, _, tokens = session
    now = dt.datetime.now(dt.timezone.utc)
    with time_machine.travel(now + dt.timedelta(seconds=590), tick=False):
        assert client.get(ME, headers=flows.bearer(tokens["access_token"])).status_code == 200
    with time_machine.travel(now + dt.timedelta(seconds=700), tick=False):
        answer = client.get(ME, headers=flows.bearer(tokens["access_token"]))
        assert_error(answer, 401, "auth.token_expired")
        # The refresh token outlives it and brings a working access token.
        renewed = client.post(REFRESH, headers=flows.bearer(tokens["refresh_token"]))
        assert renewed.status_code == 200, renewed.get_json()
        fresh = renewed.get_json()["access_token"]
        assert client.get(ME, headers=flows.bearer(fresh)).status_code == 200


def test_an_expired_token_signed_with_the_real_key_is_refused(client, session):
    _, _, tokens = session
    claims = claims_of(tokens["access_token"])
    past = int(dt.datetime.now(dt.timezone.utc).timestamp()) - 3600
    token = sign({**claims, "iat": past - 600, "nbf": past - 600, "exp": past})
    assert_error(client.get(ME, headers=flows.bearer(token)), 401, "auth.token_expired")


# --- Token types -----------------------------------------------------------------------------

def test_a_refresh_token_is_not_an_access_token(client, session):
    _, _, tokens = session
    answer = client.get(ME, headers=flows.bearer(tokens["refresh_token"]))
    assert_error(answer, 401, "auth.invalid_token")


def test_an_access_token_cannot_refresh(client, session):
    _, _, tokens = session
    answer = client.post(REFRESH, headers=flows.bearer(tokens["access_token"]))
    assert_error(answer, 401, "auth.invalid_token")


def test_an_access_token_relabelled_as_refresh_is_refused(client, session):
    _, _, tokens = session
    claims = claims_of(tokens["access_token"])
    # A well-signed refresh-typed token without a session generation is still refused.
    answer = client.post(REFRESH, headers=flows.bearer(sign({**claims, "type": "refresh"})))
    assert_error(answer, 401, "auth.invalid_token")


def test_a_refresh_token_made_as_a_jwt_before_the_tagged_ones_still_rotates(client, session):
    """Sessions survive the upgrade: a refresh JWT of the earlier kind (ES256, type refresh,
    the session and its generation) rotates once into a tagged token; a forged one does not."""
    _, _, tokens = session
    claims = claims_of(tokens["access_token"])
    _, sid, generation = refresh_parts(tokens["refresh_token"])
    legacy = {**{k: v for k, v in claims.items() if k not in ("role", "tv", "lvl", "dev")},
              "type": "refresh", "sid": sid, "gen": generation,
              "jti": "legacy-" + sid[:8]}
    for forged in (foreign_key(legacy), alg_none(legacy), hs256_with_public_key(legacy),
                   sign({**legacy, "type": "access"})):
        assert_error(client.post(REFRESH, headers=flows.bearer(forged)), 401,
                     "auth.invalid_token")
    expired = sign({**legacy, "exp": claims["iat"] - 60, "iat": claims["iat"] - 3600,
                    "nbf": claims["iat"] - 3600})
    assert_error(client.post(REFRESH, headers=flows.bearer(expired)), 401, "auth.token_expired")
    # Nor is it an access token.
    assert_error(client.get(ME, headers=flows.bearer(sign(legacy))), 401, "auth.invalid_token")
    answer = client.post(REFRESH, headers=flows.bearer(sign(legacy)))
    assert answer.status_code == 200, answer.get_json()
    assert refresh_parts(answer.get_json()["refresh_token"])[1:] == (sid, generation + 1)
    # It was that generation's token: presented again, it is a reuse.
    assert_error(client.post(REFRESH, headers=flows.bearer(sign(legacy))), 401,
                 "auth.invalid_token")


# --- Forged refresh tokens -------------------------------------------------------------------

def test_a_refresh_token_tagged_by_hand_with_the_real_key_is_the_one_issued(client, session):
    _, _, tokens = session
    kid, sid, generation = refresh_parts(tokens["refresh_token"])
    assert retag(sid, generation, kid=kid) == tokens["refresh_token"]
    assert client.post(REFRESH, headers=flows.bearer(retag(sid, generation))).status_code == 200


def _forgeries(token: str) -> dict[str, str]:
    kid, sid, generation = refresh_parts(token)
    tag = token.rsplit(".", 1)[1]
    body = token[:-len(tag) - 1]
    flipped = tag[:10] + ("A" if tag[10] != "A" else "B") + tag[11:]
    return {
        "a later generation, the tag kept": f"{refresh_tokens.PREFIX}{kid}.{sid}."
                                            f"{generation + 1}.{tag}",
        "another session, the tag kept": f"{refresh_tokens.PREFIX}{kid}.{sid[:-1]}"
                                         f"{'A' if sid[-1] != 'A' else 'B'}.{generation}.{tag}",
        "one character of the tag changed": f"{body}.{flipped}",
        "the tag cut short": token[:-1],
        "the tag made longer": token + "A",
        "a foreign key": retag(sid, generation, key=ec.generate_private_key(ec.SECP256R1())),
        "an unknown kid, the real key": retag(sid, generation, kid="test-9",
                                              key=signing_keys()[signing_kid()]),
        "the older key's tag under the signing kid": body + "." + retag(
            sid, generation, kid=signing_kid(), key=signing_keys()[older_kid()]).rsplit(".")[-1],
        "a generation written with a zero first": f"{refresh_tokens.PREFIX}{kid}.{sid}."
                                                  f"0{generation}.{tag}",
        "no prefix": token[len(refresh_tokens.PREFIX):],
        "a space inside": token.replace(".", ". ", 1),
        "empty": "",
    }


def test_forged_refresh_tokens_are_refused_and_revoke_nothing(client, session):
    _, _, tokens = session
    for name, forged in _forgeries(tokens["refresh_token"]).items():
        answer = client.post(REFRESH, headers={"Authorization": f"Bearer {forged}"})
        assert answer.status_code == 401, name
        assert answer.get_json()["code"] in {"auth.invalid_token", "auth.required"}, name
    # None was taken for a reuse of the session: the real token still rotates, once.
    assert client.post(REFRESH, headers=flows.bearer(tokens["refresh_token"])).status_code == 200


def test_a_refresh_token_of_the_older_rotated_key_is_still_accepted(client, session):
    _, _, tokens = session
    _, sid, generation = refresh_parts(tokens["refresh_token"])
    older = retag(sid, generation, kid=older_kid())
    answer = client.post(REFRESH, headers=flows.bearer(older))
    assert answer.status_code == 200, answer.get_json()
    # What it gives back is made with the first key.
    assert refresh_parts(answer.get_json()["refresh_token"])[0] == signing_kid()


# --- Keys: pinned algorithm, kid, rotation ---------------------------------------------------

def test_issued_tokens_are_es256_with_the_first_kid(session):
    _, _, tokens = session
    header = jwt.get_unverified_header(tokens["access_token"])
    assert header["alg"] == "ES256"
    assert header["kid"] == signing_kid() == "test-2"
    assert refresh_parts(tokens["refresh_token"])[0] == signing_kid()


def test_a_token_of_the_older_rotated_key_is_still_accepted(client, session):
    _, account, tokens = session
    assert older_kid() == "test-1"
    token = sign(claims_of(tokens["access_token"]), kid=older_kid())
    answer = client.get(ME, headers=flows.bearer(token))
    assert answer.status_code == 200, answer.get_json()
    assert answer.get_json()["account_id"] == account["account_id"]
    # ...but not under the other kid: a key verifies only the tokens of its own kid.
    crossed = sign(claims_of(tokens["access_token"]), kid=signing_kid(),
                   key=signing_keys()[older_kid()])
    assert_error(client.get(ME, headers=flows.bearer(crossed)), 401, "auth.invalid_token")


def test_another_application_in_the_process_does_not_change_our_signing_key(
        client, db_session, protector, tmp_path):
    """Tests, benches and the CLI build several apps in one process: keys stay per app."""
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{tmp_path / 'other.sqlite3'}"}
    other = create_app({**load_config("testing", env),
                        "TOKEN_SIGNING_KEYS": token_signing_key("elsewhere")})
    try:
        _, _, tokens = citizen_session(client, db_session, protector)
        assert jwt.get_unverified_header(tokens["access_token"])["kid"] == signing_kid()
        assert client.get(ME, headers=flows.bearer(tokens["access_token"])).status_code == 200
    finally:
        with other.app_context():
            db.engine.dispose()


# --- Tokens remembered once verified (app.auth.AppJWTManager) -------------------------------

def test_a_remembered_token_is_refused_once_its_key_is_gone(client, app, session):
    _, _, tokens = session
    access = tokens["access_token"]
    assert client.get(ME, headers=flows.bearer(access)).status_code == 200  # now remembered
    assert access in app.extensions["verified_tokens"]
    keys = app.extensions["token_keys"]
    try:
        # The key of its kid replaced (the same kid, another key), then removed.
        app.extensions["token_keys"] = {**keys, signing_kid(): ec.generate_private_key(
            ec.SECP256R1())}
        assert_error(client.get(ME, headers=flows.bearer(access)), 401, "auth.invalid_token")
        app.extensions["token_keys"] = {kid: key for kid, key in keys.items()
                                        if kid != signing_kid()}
        assert_error(client.get(ME, headers=flows.bearer(access)), 401, "auth.invalid_token")
    finally:
        app.extensions["token_keys"] = keys
    assert client.get(ME, headers=flows.bearer(access)).status_code == 200


def test_a_remembered_token_changed_by_one_character_is_refused(client, session):
    _, _, tokens = session
    access = tokens["access_token"]
    assert client.get(ME, headers=flows.bearer(access)).status_code == 200
    head, payload, signature = access.split(".")
    claims = claims_of(access)
    for forged in (f"{head}.{payload}.{signature[:-2]}{'A' if signature[-2] != 'A' else 'B'}"
                   f"{signature[-1]}",
                   f"{head}.{segment({**claims, 'sub': claims['sub'] + '0'})}"
                   f".{signature}",
                   f"{access}."):
        assert_error(client.get(ME, headers=flows.bearer(forged)), 401, "auth.invalid_token")


def test_a_remembered_token_expires_and_is_then_forgotten(client, app, session):
    _, _, tokens = session
    access = tokens["access_token"]
    now = dt.datetime.now(dt.timezone.utc)
    with time_machine.travel(now + dt.timedelta(seconds=590), tick=False):
        assert client.get(ME, headers=flows.bearer(access)).status_code == 200
    with time_machine.travel(now + dt.timedelta(seconds=700), tick=False):
        assert_error(client.get(ME, headers=flows.bearer(access)), 401, "auth.token_expired")
        assert access not in app.extensions["verified_tokens"]


def test_tokens_that_never_verified_and_refresh_tokens_are_not_remembered_the_memory_bounded(
        client, app, session, monkeypatch):
    import app.auth as auth
    _, _, tokens = session
    claims = claims_of(tokens["access_token"])
    verified = app.extensions["verified_tokens"]
    verified.clear()
    assert_error(client.get(ME, headers=flows.bearer(foreign_key(claims))), 401,
                 "auth.invalid_token")
    assert verified == {}
    # A refresh token is used once: verified, never remembered.
    assert client.post(REFRESH, headers=flows.bearer(tokens["refresh_token"])).status_code == 200
    assert tokens["refresh_token"] not in verified
    monkeypatch.setattr(auth, "VERIFIED_TOKENS", 3)
    for second in range(5):  # five tokens of the same claims, each signed anew
        token = sign({**claims, "iat": claims["iat"] - second})
        assert client.get(ME, headers=flows.bearer(token)).status_code == 200
        assert token in verified and len(verified) <= 3


# --- Refresh rotation and reuse --------------------------------------------------------------

def test_refresh_rotates_the_pair(client, session):
    _, _, tokens = session
    answer = client.post(REFRESH, headers=flows.bearer(tokens["refresh_token"]))
    assert answer.status_code == 200, answer.get_json()
    renewed = answer.get_json()
    assert renewed["refresh_token"] != tokens["refresh_token"]
    assert renewed["access_token"] != tokens["access_token"]
    (_, old_sid, old_gen), (_, new_sid, new_gen) = (refresh_parts(tokens["refresh_token"]),
                                                    refresh_parts(renewed["refresh_token"]))
    assert new_sid == old_sid and new_gen == old_gen + 1
    assert client.get(ME, headers=flows.bearer(renewed["access_token"])).status_code == 200


def test_reusing_a_refresh_token_revokes_the_whole_family(client, db_session, session):
    _, _, tokens = session
    first = client.post(REFRESH, headers=flows.bearer(tokens["refresh_token"]))
    second = client.post(REFRESH, headers=flows.bearer(first.get_json()["refresh_token"]))
    assert first.status_code == second.status_code == 200
    newest = second.get_json()["refresh_token"]

    reused = client.post(REFRESH, headers=flows.bearer(tokens["refresh_token"]))
    assert_error(reused, 401, "auth.invalid_token")
    # The thief or the citizen, whoever holds the newest token, must log in again.
    assert_error(client.post(REFRESH, headers=flows.bearer(newest)), 401, "auth.invalid_token")

    sid = refresh_parts(tokens["refresh_token"])[1]
    events = db_session.scalars(sa.select(AuditEvent).where(
        AuditEvent.action == "auth.refresh_reuse", AuditEvent.subject_id == sid)).all()
    assert len(events) == 1
    assert events[0].details == {"presented": 1, "current": 3}


def test_reuse_in_one_session_leaves_other_sessions_alone(client, db_session, protector):
    citizen = add_citizen(db_session, protector)
    phone = flows.Phone()
    flows.register(client, citizen, phone)
    one = flows.login(client, citizen.personal_id, phone)
    two = flows.login(client, citizen.personal_id, phone)
    rotated = client.post(REFRESH, headers=flows.bearer(one["refresh_token"]))
    assert rotated.status_code == 200
    assert client.post(REFRESH, headers=flows.bearer(one["refresh_token"])).status_code == 401
    # The access tokens already out (the thief's among them) stop at once...
    for access in (rotated.get_json()["access_token"], two["access_token"]):
        assert_error(client.get(ME, headers=flows.bearer(access)), 401, "auth.invalid_token")
    # ...while the other session refreshes into a working token.
    fresh = client.post(REFRESH, headers=flows.bearer(two["refresh_token"]))
    assert fresh.status_code == 200
    assert client.get(ME, headers=flows.bearer(fresh.get_json()["access_token"])).status_code \
        == 200


# --- Revocation on the next request ----------------------------------------------------------

def test_logout_revokes_the_access_and_refresh_tokens(client, session):
    _, _, tokens = session
    assert client.get(ME, headers=flows.bearer(tokens["access_token"])).status_code == 200
    answer = client.post("/api/v1/auth/logout", headers=flows.bearer(tokens["access_token"]))
    assert answer.status_code == 204, answer.get_json()
    assert_error(client.get(ME, headers=flows.bearer(tokens["access_token"])), 401,
                 "auth.invalid_token")
    assert_error(client.post(REFRESH, headers=flows.bearer(tokens["refresh_token"])), 401,
                 "auth.invalid_token")


def test_locking_the_account_revokes_its_tokens(client, session):
    _, _, tokens = session
    answer = client.post("/api/v1/me/lock", headers=flows.bearer(tokens["access_token"]))
    assert answer.status_code == 200, answer.get_json()
    assert answer.get_json()["status"] == "locked"
    assert_error(client.get(ME, headers=flows.bearer(tokens["access_token"])), 401,
                 "auth.invalid_token")
    assert_error(client.post(REFRESH, headers=flows.bearer(tokens["refresh_token"])), 401,
                 "auth.invalid_token")


def test_a_level_change_applies_on_the_next_request(client, db_session, protector, session):
    citizen, account, tokens = session
    assert claims_of(tokens["access_token"])["lvl"] == 1
    _, officer = officer_tokens(client, db_session, protector)
    raised = client.post(f"/api/v1/police/accounts/{account['account_id']}/level2",
                         json={"card_number": citizen.personal_id, "check": "face"},
                         headers=flows.bearer(officer["access_token"]))
    assert raised.status_code == 200, raised.get_json()
    assert raised.get_json()["level"] == 2

    # The level-1 token stops at once; a refresh brings a level-2 one.
    assert_error(client.get(ME, headers=flows.bearer(tokens["access_token"])), 401,
                 "auth.invalid_token")
    renewed = client.post(REFRESH, headers=flows.bearer(tokens["refresh_token"]))
    assert renewed.status_code == 200, renewed.get_json()
    access = renewed.get_json()["access_token"]
    assert claims_of(access)["lvl"] == 2
    me = client.get(ME, headers=flows.bearer(access))
    assert me.status_code == 200 and me.get_json()["level"] == 2


def test_a_deactivated_officer_is_refused_on_the_next_request(client, db_session, protector):
    officer, tokens = officer_tokens(client, db_session, protector)
    assert client.get(PENDING, headers=flows.bearer(tokens["access_token"])).status_code == 200
    officers.deactivate_officer(db_session=db_session, actor=OPERATOR, username=officer.username)
    assert_error(client.get(PENDING, headers=flows.bearer(tokens["access_token"])), 401,
                 "auth.invalid_token")
    assert_error(client.post(REFRESH, headers=flows.bearer(tokens["refresh_token"])), 401,
                 "auth.invalid_token")


def test_a_reassigned_officer_acts_in_the_new_jurisdiction_on_the_next_request(
        client, db_session, protector):
    citizen = add_citizen(db_session, protector)  # province 01
    officer, tokens = officer_tokens(client, db_session, protector)
    lookup = {"personal_id": citizen.personal_id}
    headers = flows.bearer(tokens["access_token"])
    answer = client.post("/api/v1/police/citizens/lookup", json=lookup, headers=headers)
    assert answer.status_code == 200, answer.get_json()
    officers.reassign_officer(db_session=db_session, actor=OPERATOR, username=officer.username,
                              province_code="79", commune_code=None)
    answer = client.post("/api/v1/police/citizens/lookup", json=lookup, headers=headers)
    assert_error(answer, 404, "citizen.not_found")  # outside the jurisdiction: as if unknown


# --- Roles -----------------------------------------------------------------------------------

def test_a_citizen_token_cannot_use_police_endpoints(client, session):
    _, account, tokens = session
    headers = flows.bearer(tokens["access_token"])
    assert_error(client.get(PENDING, headers=headers), 403, "auth.officer_only")
    answer = client.post(f"/api/v1/police/accounts/{account['account_id']}/level2",
                         json={"card_number": "001090012345", "check": "face"}, headers=headers)
    assert_error(answer, 403, "auth.officer_only")


def test_an_officer_token_cannot_use_citizen_endpoints(client, db_session, protector):
    _, tokens = officer_tokens(client, db_session, protector)
    headers = flows.bearer(tokens["access_token"])
    assert_error(client.get(ME, headers=headers), 403, "auth.citizen_only")
    assert_error(client.post("/api/v1/me/lock", headers=headers), 403, "auth.citizen_only")


def test_a_citizen_token_relabelled_as_an_officer_is_refused(client, db_session, protector,
                                                             session):
    """Only the signature makes a subject: ``sub: officer:N`` in a forged token gets nowhere."""
    _, _, tokens = session
    officer, _ = officer_tokens(client, db_session, protector)
    claims = {**claims_of(tokens["access_token"]), "sub": f"officer:{officer.officer_id}",
              "role": "officer"}
    header, _, signature = tokens["access_token"].split(".")
    forged = f"{header}.{segment(claims)}.{signature}"
    assert_error(client.get(PENDING, headers=flows.bearer(forged)), 401, "auth.invalid_token")
