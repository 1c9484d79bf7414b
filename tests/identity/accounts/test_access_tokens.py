"""Access tokens signed in one step read exactly as flask-jwt-extended's own: same header,
same claims (its cookie-only ``csrf`` aside), an ES256 signature PyJWT verifies."""
from __future__ import annotations

import base64
import json

import jwt as pyjwt
import pytest
import time_machine
from cryptography.hazmat.primitives.asymmetric import ec
from flask_jwt_extended import create_access_token

from app.auth import AUDIENCE, ISSUER, sign_access_token
from identity.accounts import access_tokens


def _parts(token: str) -> list[bytes]:
    return [base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))
            for part in token.split(".")]


def test_a_token_verifies_with_pyjwt_and_carries_the_claims():
    key = ec.generate_private_key(ec.SECP256R1())
    with time_machine.travel(1_800_000_000.7, tick=False):
        claims = access_tokens.access_claims("citizen:7", lifetime=600, issuer="vnid",
                                             audience="vnid-api", extra={"role": "citizen",
                                                                         "tv": 3})
        token = access_tokens.sign(key, "k-1", claims)
        decoded = pyjwt.decode(token, key.public_key(), algorithms=["ES256"],
                               audience="vnid-api", issuer="vnid")
    assert pyjwt.get_unverified_header(token) == {"alg": "ES256", "kid": "k-1", "typ": "JWT"}
    assert decoded == claims
    assert (decoded["iat"], decoded["nbf"], decoded["exp"]) == (1_800_000_000, 1_800_000_000,
                                                                1_800_000_600)
    assert decoded["sub"] == "citizen:7" and decoded["type"] == "access"
    assert len(_parts(token)[2]) == 64  # r || s, as JWS wants (not DER)


def test_another_key_or_a_changed_claim_does_not_verify():
    key, other = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    claims = access_tokens.access_claims("officer:1", lifetime=60, issuer="vnid",
                                         audience="vnid-api", extra={"role": "officer"})
    token = access_tokens.sign(key, "k-1", claims)
    with pytest.raises(pyjwt.InvalidSignatureError):
        pyjwt.decode(token, other.public_key(), algorithms=["ES256"], audience="vnid-api")
    header, _payload, signature = token.split(".")
    forged = base64.urlsafe_b64encode(json.dumps({**claims, "role": "admin"}).encode())
    with pytest.raises(pyjwt.InvalidSignatureError):
        pyjwt.decode(f"{header}.{forged.decode().rstrip('=')}.{signature}", key.public_key(),
                     algorithms=["ES256"], audience="vnid-api")


def test_the_same_claims_as_flask_jwt_extended_writes(app):
    with app.test_request_context():
        kid = next(iter(app.extensions["token_keys"]))
        extra = {"role": "citizen", "tv": 1, "sid": "s-1", "lvl": 2}
        ours = sign_access_token("citizen:12", app.config["ACCESS_TOKEN_SECONDS"], extra)
        theirs = create_access_token("citizen:12", additional_claims=extra,
                                     additional_headers={"kid": kid})
        public = app.extensions["token_keys"][kid].public_key()
        mine = pyjwt.decode(ours, public, algorithms=["ES256"], audience=AUDIENCE, issuer=ISSUER)
        library = pyjwt.decode(theirs, public, algorithms=["ES256"], audience=AUDIENCE,
                               issuer=ISSUER)
    assert pyjwt.get_unverified_header(ours) == pyjwt.get_unverified_header(theirs)
    assert set(mine) == set(library) - {"csrf"}
    for name in ("fresh", "type", "sub", "aud", "iss", *extra):
        assert mine[name] == library[name], name
    assert abs(mine["exp"] - library["exp"]) <= 1 and mine["jti"] != library["jti"]
