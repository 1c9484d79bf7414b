"""The token endpoint of relying parties: client secret, private-key JWT, scopes, disabling."""
from __future__ import annotations

import time
import uuid

import jwt as pyjwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from identity.audit.service import Actor
from identity.relying_parties import parties
from tests.flows import assert_error, create_party, party_token

FORM = {"grant_type": "client_credentials"}
ENDPOINT = "http://localhost/api/v1/oauth/token"


def test_a_party_gets_a_token_limited_to_its_scopes(client, db_session, protector):
    party = create_party(db_session, protector, scopes=("identity.match", "identity.consent"))
    answer = client.post("/api/v1/oauth/token", data=FORM, auth=(party.client_id, party.secret))
    assert answer.status_code == 200
    body = answer.get_json()
    assert body["token_type"] == "Bearer" and body["expires_in"] == 300
    assert body["scope"] == "identity.consent identity.match"
    narrowed = client.post("/api/v1/oauth/token", data={**FORM, "scope": "identity.match"},
                           auth=(party.client_id, party.secret))
    assert narrowed.get_json()["scope"] == "identity.match"
    wider = client.post("/api/v1/oauth/token", data={**FORM, "scope": "sim.verify"},
                        auth=(party.client_id, party.secret))
    assert_error(wider, 403, "oauth.invalid_scope")


def test_wrong_unknown_or_missing_client_credentials_get_one_answer(client, db_session,
                                                                    protector):
    party = create_party(db_session, protector)
    wrong = "vnidrp_" + "A" * 43
    for auth in ((party.client_id, wrong), ("aaaaaaaaaaaa", party.secret), ("x", "y")):
        assert_error(client.post("/api/v1/oauth/token", data=FORM, auth=auth), 401,
                     "oauth.invalid_client")
    assert_error(client.post("/api/v1/oauth/token", data=FORM), 401, "oauth.invalid_client")
    assert_error(client.post("/api/v1/oauth/token", data={"grant_type": "password"},
                             auth=(party.client_id, party.secret)), 422, "request.invalid")


def test_a_disabled_party_is_refused_on_its_next_call_and_at_the_token_endpoint(
        client, db_session, protector):
    party = create_party(db_session, protector)
    token = party_token(client, party)
    body = {"personal_id": "001200000001", "full_name": "Nguyễn Văn A",
            "date_of_birth": "1990-01-01"}
    headers = {"Authorization": f"Bearer {token}"}
    assert client.post("/api/v1/rp/identity-match", json=body, headers=headers).status_code == 200
    parties.disable_party(db_session=db_session, actor=Actor(type="operator"), name=party.name)
    assert_error(client.post("/api/v1/rp/identity-match", json=body, headers=headers), 401,
                 "auth.invalid_token")
    assert_error(client.post("/api/v1/oauth/token", data=FORM,
                             auth=(party.client_id, party.secret)), 401, "oauth.invalid_client")


def test_a_rotated_secret_ends_the_old_secret_and_its_tokens(client, db_session, protector):
    party = create_party(db_session, protector)
    token = party_token(client, party)
    _, new_secret = parties.rotate_secret(db_session=db_session, actor=Actor(type="operator"),
                                          name=party.name)
    assert_error(client.post("/api/v1/oauth/token", data=FORM,
                             auth=(party.client_id, party.secret)), 401, "oauth.invalid_client")
    assert client.post("/api/v1/oauth/token", data=FORM,
                       auth=(party.client_id, new_secret)).status_code == 200
    assert_error(client.post("/api/v1/rp/identity-match", json={},
                             headers={"Authorization": f"Bearer {token}"}), 401,
                 "auth.invalid_token")


def _assertion(key, client_id, **overrides):
    now = int(time.time())
    claims = {"iss": client_id, "sub": client_id, "aud": ENDPOINT, "iat": now,
              "exp": now + 60, "jti": uuid.uuid4().hex, **overrides}
    return pyjwt.encode(claims, key, algorithm="ES256")


def test_private_key_jwt_authenticates_once_per_assertion(client, db_session, protector):
    key = ec.generate_private_key(ec.SECP256R1())
    pem = key.public_key().public_bytes(serialization.Encoding.PEM,
                                        serialization.PublicFormat.SubjectPublicKeyInfo)
    party = create_party(db_session, protector, public_key_pem=pem)
    assertion = _assertion(key, party.client_id)
    form = {**FORM, "client_assertion_type": parties.ASSERTION_TYPE,
            "client_assertion": assertion}
    assert client.post("/api/v1/oauth/token", data=form).status_code == 200
    assert_error(client.post("/api/v1/oauth/token", data=form), 401, "oauth.invalid_client")
    other = ec.generate_private_key(ec.SECP256R1())
    for bad in (_assertion(other, party.client_id),
                _assertion(key, party.client_id, aud="https://elsewhere/token"),
                _assertion(key, party.client_id, exp=int(time.time()) + 3600),
                _assertion(key, party.client_id, exp=int(time.time()) - 60)):
        assert_error(client.post("/api/v1/oauth/token",
                                 data={**form, "client_assertion": bad}), 401,
                     "oauth.invalid_client")


def _keyed_party(db_session, protector):
    key = ec.generate_private_key(ec.SECP256R1())
    pem = key.public_key().public_bytes(serialization.Encoding.PEM,
                                        serialization.PublicFormat.SubjectPublicKeyInfo)
    return key, create_party(db_session, protector, public_key_pem=pem)


def test_an_assertion_for_the_host_the_client_chose_is_refused(client, db_session, protector):
    """``aud`` is the configured token URL, never one derived from the request's Host."""
    key, party = _keyed_party(db_session, protector)
    evil = "https://attacker.example/api/v1/oauth/token"
    form = {**FORM, "client_assertion_type": parties.ASSERTION_TYPE,
            "client_assertion": _assertion(key, party.client_id, aud=evil)}
    answer = client.post("/api/v1/oauth/token", data=form, base_url="https://attacker.example",
                         headers={"Host": "attacker.example"})
    assert_error(answer, 401, "oauth.invalid_client")
    # The configured URL is accepted whatever Host the request names.
    form["client_assertion"] = _assertion(key, party.client_id)
    answer = client.post("/api/v1/oauth/token", data=form, base_url="https://attacker.example",
                         headers={"Host": "attacker.example"})
    assert answer.status_code == 200, answer.get_json()


def test_the_audience_follows_the_configuration(app, client, db_session, protector,
                                                monkeypatch):
    key, party = _keyed_party(db_session, protector)
    public = "https://id.example.gov.vn/api/v1/oauth/token"
    monkeypatch.setitem(app.config, "OAUTH_TOKEN_URL", public)
    form = {**FORM, "client_assertion_type": parties.ASSERTION_TYPE}
    local = client.post("/api/v1/oauth/token",
                        data={**form, "client_assertion": _assertion(key, party.client_id)})
    assert_error(local, 401, "oauth.invalid_client")
    configured = client.post("/api/v1/oauth/token", data={
        **form, "client_assertion": _assertion(key, party.client_id, aud=public)})
    assert configured.status_code == 200, configured.get_json()
