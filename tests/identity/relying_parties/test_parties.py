"""Parties as the operator registers them, and their clients' authentication, scopes and quotas.

The use cases of :mod:`identity.relying_parties.parties`, called directly.
"""
from __future__ import annotations

import time
import uuid
from typing import Any

import jwt as pyjwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from identity.errors import TooManyAttempts
from identity.relying_parties import parties
from identity.relying_parties.errors import (InvalidClient, PartyExists, PartyTokenInvalid,
                                             QuotaExhausted, QuotaInvalid, ScopeNotGranted,
                                             ScopeUnknown)
from tests.identity.relying_parties.conftest import OPERATOR, events, new_party

ENDPOINT = "https://id.example.gov.vn/api/v1/oauth/token"


def _keyed_party(db_session: Any, protector: Any, **options: Any) -> tuple[Any, Any]:
    """A party with a registered P-256 key, and its private key."""
    key = ec.generate_private_key(ec.SECP256R1())
    pem = key.public_key().public_bytes(serialization.Encoding.PEM,
                                        serialization.PublicFormat.SubjectPublicKeyInfo)
    party, _secret = new_party(db_session, protector, name="Ngân hàng Khoá",
                               public_key_pem=pem, **options)
    return party, key


def _assertion(key: Any, client_id: str, **overrides: Any) -> str:
    """A client assertion (RFC 7523) valid for a minute, unless ``overrides`` say otherwise."""
    now = int(time.time())
    claims = {"iss": client_id, "sub": client_id, "aud": ENDPOINT, "iat": now,
              "exp": now + 60, "jti": uuid.uuid4().hex, **overrides}
    return pyjwt.encode(claims, key, algorithm="ES256")


def _by_assertion(db_session: Any, redis: Any, assertion: str) -> Any:
    return parties.authenticate_assertion(db_session=db_session, redis_client=redis,
                                          assertion=assertion, token_endpoint=ENDPOINT)


# --- Registration ---------------------------------------------------------------------------------

def test_a_party_is_registered_with_a_secret_shown_once_and_an_audit_event(
        db_session, protector):
    party, secret = new_party(db_session, protector, scopes=["sim.verify", "identity.match"])
    assert parties.SECRET_RE.fullmatch(secret) and parties.CLIENT_ID_RE.fullmatch(party.client_id)
    assert party.secret_hash == parties.secret_digest(secret) and secret.encode() not in (
        party.secret_hash)
    assert party.scopes == "identity.match sim.verify" and party.active
    assert parties.audience(party) == f"rp:{party.client_id}"
    created = events(db_session, "rp.created")
    assert [(e.subject_id, e.details["scopes"]) for e in created] == [
        (str(party.id), ["identity.match", "sim.verify"])]
    assert secret not in str(created[0].details)


@pytest.mark.parametrize("scopes", [[], ["identity.match", "passwords.read"]])
def test_a_party_gets_known_scopes_only(db_session, protector, scopes):
    with pytest.raises(ScopeUnknown) as refused:
        new_party(db_session, protector, scopes=scopes)
    assert (refused.value.code, refused.value.field) == ("rp.scope_unknown", "scopes")


def test_a_quota_is_for_one_of_the_partys_own_scopes(db_session, protector):
    with pytest.raises(QuotaInvalid) as refused:
        new_party(db_session, protector, scopes=["identity.match"],
                  quotas={"sim.verify": 10})
    assert refused.value.code == "rp.quota"


def test_two_parties_may_not_share_a_name(db_session, protector):
    new_party(db_session, protector, name="Ngân hàng Trùng")
    with pytest.raises(PartyExists) as refused:
        new_party(db_session, protector, name="Ngân hàng Trùng")
    assert refused.value.code == "rp.exists"
    assert len(parties.list_parties(db_session=db_session)) == 1


# --- Client secret --------------------------------------------------------------------------------

def test_the_right_secret_authenticates_the_party(db_session, protector):
    party, secret = new_party(db_session, protector)
    assert parties.authenticate_secret(db_session=db_session, client_id=party.client_id,
                                       secret=secret) is party


def test_a_wrong_secret_an_unknown_client_and_garbage_get_one_answer(db_session, protector):
    party, secret = new_party(db_session, protector)
    other_secret = "vnidrp_" + "A" * 43
    for client_id, given in ((party.client_id, other_secret), ("aaaaaaaaaaaa", secret),
                             (party.client_id, secret + "x"), ("x", "y")):
        with pytest.raises(InvalidClient) as refused:
            parties.authenticate_secret(db_session=db_session, client_id=client_id,
                                        secret=given)
        assert refused.value.code == "oauth.invalid_client"


def test_a_disabled_party_is_refused_and_its_tokens_with_it(db_session, protector):
    party, secret = new_party(db_session, protector)
    version = party.token_version
    assert parties.party_for_token(db_session=db_session, party_id=party.id,
                                   token_version=version) is party
    parties.disable_party(db_session=db_session, actor=OPERATOR, name=party.name)
    with pytest.raises(InvalidClient):
        parties.authenticate_secret(db_session=db_session, client_id=party.client_id,
                                    secret=secret)
    with pytest.raises(PartyTokenInvalid) as refused:
        parties.party_for_token(db_session=db_session, party_id=party.id,
                                token_version=version)
    assert refused.value.code == "auth.invalid_token"
    # Disabling twice is one act in the log.
    parties.disable_party(db_session=db_session, actor=OPERATOR, name=party.client_id)
    assert len(events(db_session, "rp.disabled")) == 1


def test_a_rotated_secret_replaces_the_old_one_at_once(db_session, protector):
    party, old = new_party(db_session, protector)
    version = party.token_version
    _party, new = parties.rotate_secret(db_session=db_session, actor=OPERATOR, name=party.name)
    with pytest.raises(InvalidClient):
        parties.authenticate_secret(db_session=db_session, client_id=party.client_id,
                                    secret=old)
    assert parties.authenticate_secret(db_session=db_session, client_id=party.client_id,
                                       secret=new) is party
    with pytest.raises(PartyTokenInvalid):
        parties.party_for_token(db_session=db_session, party_id=party.id,
                                token_version=version)


# --- Private-key JWT assertion --------------------------------------------------------------------

def test_a_signed_assertion_authenticates_the_party_once(db_session, protector, redis):
    party, key = _keyed_party(db_session, protector)
    assertion = _assertion(key, party.client_id)
    assert _by_assertion(db_session, redis, assertion) is party
    with pytest.raises(InvalidClient):  # the same jti again: a replay
        _by_assertion(db_session, redis, assertion)
    # Another assertion (another jti) still works.
    assert _by_assertion(db_session, redis, _assertion(key, party.client_id)) is party


@pytest.mark.parametrize("overrides", [
    {"exp": -60},  # expired a minute ago
    {"exp": 3600},  # lives an hour: more than the five minutes allowed
    {"aud": "https://attacker.example/api/v1/oauth/token"},
    {"sub": "bbbbbbbbbbbb"},  # not the issuer
    {"jti": "short"},
], ids=["expired", "too_long", "other_audience", "other_subject", "short_jti"])
def test_an_assertion_out_of_bounds_is_refused(db_session, protector, redis, overrides):
    party, key = _keyed_party(db_session, protector)
    if "exp" in overrides:
        overrides = {"exp": int(time.time()) + overrides["exp"]}
    with pytest.raises(InvalidClient):
        _by_assertion(db_session, redis, _assertion(key, party.client_id, **overrides))


def test_an_assertion_signed_by_another_key_or_for_a_keyless_party_is_refused(
        db_session, protector, redis):
    party, _key = _keyed_party(db_session, protector)
    stranger = ec.generate_private_key(ec.SECP256R1())
    with pytest.raises(InvalidClient):
        _by_assertion(db_session, redis, _assertion(stranger, party.client_id))
    keyless, _secret = new_party(db_session, protector, name="Ngân hàng Không Khoá")
    with pytest.raises(InvalidClient):
        _by_assertion(db_session, redis, _assertion(stranger, keyless.client_id))
    hmac_signed = pyjwt.encode({"iss": party.client_id, "sub": party.client_id,
                                "aud": ENDPOINT, "exp": int(time.time()) + 60,
                                "jti": uuid.uuid4().hex}, "a shared secret of 32 bytes or more",
                               algorithm="HS256")
    with pytest.raises(InvalidClient):
        _by_assertion(db_session, redis, hmac_signed)


def test_a_disabled_partys_assertion_is_refused(db_session, protector, redis):
    party, key = _keyed_party(db_session, protector)
    parties.disable_party(db_session=db_session, actor=OPERATOR, name=party.name)
    with pytest.raises(InvalidClient):
        _by_assertion(db_session, redis, _assertion(key, party.client_id))


# --- Scopes and quotas ----------------------------------------------------------------------------

def test_a_token_gets_the_scopes_asked_for_among_the_partys_own(db_session, protector):
    party, _secret = new_party(db_session, protector, scopes=["identity.match", "sim.verify"])
    assert parties.token_scopes(party, None) == ["identity.match", "sim.verify"]
    assert parties.token_scopes(party, "sim.verify") == ["sim.verify"]
    with pytest.raises(ScopeNotGranted) as refused:
        parties.token_scopes(party, "identity.match identity.consent")
    assert refused.value.code == "oauth.invalid_scope"


def test_the_daily_quota_refuses_past_the_limit_and_gives_the_units_back(db_session,
                                                                         protector, redis):
    party, _secret = new_party(db_session, protector, scopes=["identity.match"],
                               quotas={"identity.match": 3})
    count = {"redis_client": redis, "party": party, "scope": "identity.match",
             "defaults": {"identity.match": 1000}}
    assert parties.consume_quota(**count, cost=2) == 1
    with pytest.raises(QuotaExhausted) as refused:
        parties.consume_quota(**count, cost=2)
    assert refused.value.code == "rp.quota_exhausted"
    assert 0 < refused.value.details["retry_after"] <= 86_400
    assert parties.consume_quota(**count) == 0  # the refused two were given back
    assert parties.quota_status(redis_client=redis, party=party,
                                defaults=count["defaults"]) == {
        "identity.match": {"quota": 3, "used": 3}}


def test_the_rate_windows_and_the_quota_are_counted_together_per_endpoint(db_session,
                                                                          protector, redis):
    party, _secret = new_party(db_session, protector, scopes=["identity.match"],
                               quotas={"identity.match": 10})
    meter = {"redis_client": redis, "party": party, "scope": "identity.match",
             "defaults": {}, "windows": ((2, 60), (100, 3600))}
    assert parties.meter_request(**meter, endpoint="rp.match") == 9
    assert parties.meter_request(**meter, endpoint="rp.match") == 8
    with pytest.raises(TooManyAttempts) as refused:
        parties.meter_request(**meter, endpoint="rp.match")
    assert refused.value.code == "rate_limited" and not isinstance(refused.value, QuotaExhausted)
    assert 1 <= refused.value.details["retry_after"] <= 60
    # The refused request cost no quota; another endpoint has windows of its own.
    assert parties.meter_request(**meter, endpoint="rp.sim") == 7
    assert parties.meter_request(**{**meter, "scope": None}, endpoint="rp.status") is None
    assert parties.quota_status(redis_client=redis, party=party, defaults={}) == {
        "identity.match": {"quota": 10, "used": 3}}
