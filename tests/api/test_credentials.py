"""VN1 credentials through the HTTP API: issue, show, verify online, revoke, the trust list."""
from __future__ import annotations

import base64
import datetime as dt
import io
from typing import Any

import pytest
import sqlalchemy as sa
import time_machine
import zxingcpp
from cryptography.hazmat.primitives import serialization
from PIL import Image

from app.extensions import get_protector
from identity.accounts import officers
from identity.audit.service import Actor
from identity.credentials import keys, vn1
from identity.credentials.keys import KeyRing
from identity.credentials.models import Credential, IssuerKey
from identity.monitoring.counters import total
from identity.protection import KeyMaterialError
from tests import flows
from tests.flows import PASSCODE, assert_error, bearer, logged_in_officer

OPERATOR = Actor(type="operator", id="test")


class Holder(flows.Holder):
    """A registered citizen with a logged-in device, who asks for credentials."""

    def issue(self, type_: str = "identity_basic", **extra: Any) -> Any:
        return self.client.post("/api/v1/credentials", headers=bearer(self.token),
                                json={"type": type_, "passcode": PASSCODE, **extra})

    def issued(self, type_: str = "identity_basic", **extra: Any) -> dict[str, Any]:
        answer = self.issue(type_, **extra)
        assert answer.status_code == 201, answer.get_json()
        return dict(answer.get_json())


@pytest.fixture()
def officer(client, db_session, protector):
    return logged_in_officer(client, db_session, protector, username="officer.hn").token


@pytest.fixture()
def holder(client, db_session, protector, issuer_key):
    return Holder.make(client, db_session, protector, full_name="Nguyễn Thị Phương Thảo",
                       gender="F")


def raise_to_level2(client: Any, officer: str, holder: Holder) -> None:
    answer = client.post(f"/api/v1/police/accounts/{holder.account_id}/level2",
                         headers=bearer(officer),
                         json={"card_number": holder.record.personal_id, "check": "face"})
    assert answer.status_code == 200, answer.get_json()


def verify(client: Any, officer: str, qr: str, **extra: Any) -> dict[str, Any]:
    answer = client.post("/api/v1/credentials/verify", headers=bearer(officer),
                         json={"qr": qr, **extra})
    assert answer.status_code == 200, answer.get_json()
    return dict(answer.get_json())


# --- Issuing -----------------------------------------------------------------------------------

def test_identity_basic_carries_name_level_and_the_last_four_digits(client, holder, officer):
    issued = holder.issued("identity_basic")
    assert issued["qr"].startswith("VN1:") and len(issued["credential_id"]) == 32
    lifetime = (dt.datetime.fromisoformat(issued["expires_at"]) - dt.datetime.now(dt.timezone.utc))
    assert 100 < lifetime.total_seconds() <= 120
    result = verify(client, officer, issued["qr"])
    assert result["valid"] is True and result["reason"] is None
    assert result["type"] == "identity_basic"
    assert result["claims"] == {"nm": "Nguyễn Thị Phương Thảo", "lvl": 1,
                                "id4": holder.record.personal_id[-4:]}


def test_identity_needs_level_2(client, holder, officer):
    assert_error(holder.issue("identity"), 403, "credential.level_too_low")
    raise_to_level2(client, officer, holder)
    holder.log_in()
    claims = verify(client, officer, holder.issued("identity")["qr"])["claims"]
    citizen = holder.record
    assert claims == {"id": citizen.personal_id, "nm": citizen.full_name,
                      "dob": citizen.date_of_birth.isoformat(), "sx": "F", "lvl": 2}


def test_age_over_18_says_only_that(client, holder, officer):
    result = verify(client, officer, holder.issued("age_over_18")["qr"])
    assert result["claims"] == {"o18": True, "lvl": 1}


def test_a_minor_gets_o18_false(client, db_session, protector, issuer_key, officer):
    minor = Holder.make(client, db_session, protector, birth=dt.date(2010, 3, 1))
    assert verify(client, officer, minor.issued("age_over_18")["qr"])["claims"]["o18"] is False


def test_issuing_needs_the_passcode(holder):
    answer = holder.client.post("/api/v1/credentials", headers=bearer(holder.token),
                                json={"type": "identity_basic", "passcode": "135799"})
    assert_error(answer, 401, "passcode.wrong")


@pytest.mark.parametrize("body, code", [
    ({"type": "passport"}, "credential.type_unknown"),
    ({"type": "identity_basic", "nonce": "short"}, "request.invalid"),
    ({"type": "identity_basic", "nonce": "x" * 13}, "request.invalid"),
    ({"type": "identity_basic", "audience": "rp:" + "a" * 14}, "request.invalid"),
    ({"type": "identity_basic", "audience": "rp bank"}, "request.invalid"),
])
def test_bad_requests_are_422(holder, body, code):
    answer = holder.client.post("/api/v1/credentials", headers=bearer(holder.token),
                                json={"passcode": PASSCODE, **body})
    assert_error(answer, 422, code)


def test_issuing_needs_a_citizen_token(client, officer, issuer_key):
    assert_error(client.post("/api/v1/credentials", json={"type": "identity_basic",
                                                          "passcode": PASSCODE}),
                 401, "auth.required")
    assert_error(client.post("/api/v1/credentials", headers=bearer(officer),
                             json={"type": "identity_basic", "passcode": PASSCODE}),
                 403, "auth.citizen_only")


def test_lifetimes_are_configurable_per_type(app, holder):
    app.config["CREDENTIAL_LIFETIMES"] = {"identity_basic": 30}
    try:
        issued = holder.issued("identity_basic")
    finally:
        app.config["CREDENTIAL_LIFETIMES"] = {}
    verified = vn1.verify(issued["qr"], _trust(holder.client))
    assert verified.expires_at - verified.issued_at == 30


def test_issuing_is_counted_and_audited(db_session, holder):
    before = total(db_session, metric="credentials.issued")
    holder.issued()
    assert total(db_session, metric="credentials.issued") == before + 1
    assert any(entry["action"] == "credential.issued" for entry in holder.access_log())


# --- No key, or a key that does not decrypt: 503, never an unsigned credential ----------------

def test_without_an_active_key_issuing_is_503(client, db_session, protector):
    holder = Holder.make(client, db_session, protector)
    assert_error(holder.issue(), 503, "credential.signing_unavailable")


def test_a_key_revoked_after_it_signed_never_signs_again(client, db_session, protector, holder,
                                                         issuer_key):
    assert holder.issued()  # this process now reuses the key's kid for a few seconds
    keys.revoke_key(db_session=db_session, actor=OPERATOR, kid=issuer_key.kid)
    rows = db_session.scalar(sa.select(sa.func.count()).select_from(Credential))
    assert_error(holder.issue(), 503, "credential.signing_unavailable")
    assert db_session.scalar(sa.select(sa.func.count()).select_from(Credential)) == rows
    new_key = keys.rotate_keys(db_session=db_session, protector=protector, actor=OPERATOR)
    assert vn1.verify(holder.issued()["qr"], _trust(client)).kid == vn1.unb64url(new_key.kid)


def test_a_key_that_does_not_decrypt_never_signs(app, client, db_session, protector, issuer_key):
    holder = Holder.make(client, db_session, protector)
    issuer_key.private_key_encrypted = b"\x01" + bytes(60)
    db_session.flush()
    ring = app.extensions["key_ring"]
    app.extensions["key_ring"] = KeyRing("VN")  # a fresh process: nothing decrypted yet
    try:
        answer = holder.issue()
    finally:
        app.extensions["key_ring"] = ring
    assert_error(answer, 503, "credential.signing_unavailable")
    assert answer.headers["Retry-After"]


# --- Showing -----------------------------------------------------------------------------------

def test_round_trip_through_a_real_png(client, holder, officer, redis):
    issued = holder.issued("identity_basic", audience="rp:vcb01", nonce="n0nce-1234")
    answer = client.get(f"/api/v1/credentials/{issued['credential_id']}/qr.png",
                        headers=bearer(holder.token))
    assert answer.status_code == 200 and answer.mimetype == "image/png"
    assert answer.headers["Cache-Control"] == "private, no-store"
    image = Image.open(io.BytesIO(answer.data))
    # QR codes only: zxing's linear readers can find a short "barcode" among a QR's modules
    decoded = zxingcpp.read_barcodes(image.convert("L"), formats=zxingcpp.BarcodeFormat.QRCode)
    assert [d.text for d in decoded] == [issued["qr"]]
    verified = vn1.verify(decoded[0].text, _trust(client), audience="rp:vcb01",
                          nonce="n0nce-1234")
    assert verified.claims["nm"] == "Nguyễn Thị Phương Thảo"
    # rendered once: the cached image answers the second request, sealed (it holds the
    # credential's personal data, as the text does)
    cached = redis.get(f"credential:{issued['credential_id']}:png")
    assert cached is not None and not cached.startswith(b"\x89PNG") and answer.data not in cached
    again = client.get(f"/api/v1/credentials/{issued['credential_id']}/qr.png",
                       headers=bearer(holder.token))
    assert again.data == answer.data


def test_the_svg_is_served_too(client, holder):
    issued = holder.issued()
    answer = client.get(f"/api/v1/credentials/{issued['credential_id']}/qr.svg",
                        headers=bearer(holder.token))
    assert answer.status_code == 200 and answer.mimetype == "image/svg+xml"
    assert answer.data.lstrip().startswith(b"<svg")


def test_another_citizens_credential_is_404(client, db_session, protector, holder):
    issued = holder.issued()
    other = Holder.make(client, db_session, protector)
    for path in ("qr.png", "qr.svg"):
        assert_error(client.get(f"/api/v1/credentials/{issued['credential_id']}/{path}",
                                headers=bearer(other.token)), 404, "credential.not_found")
    assert_error(client.post(f"/api/v1/credentials/{issued['credential_id']}/revoke",
                             headers=bearer(other.token)), 404, "credential.not_found")


def test_an_expired_credential_has_no_image(client, holder):
    issued = holder.issued()
    with time_machine.travel(dt.datetime.now(dt.timezone.utc) + dt.timedelta(minutes=3)):
        holder.log_in()
        answer = client.get(f"/api/v1/credentials/{issued['credential_id']}/qr.png",
                            headers=bearer(holder.token))
    assert_error(answer, 409, "credential.expired")


def test_the_holder_lists_their_credentials_without_claims(client, holder):
    first, second = holder.issued(), holder.issued("age_over_18")
    answer = client.get("/api/v1/credentials", headers=bearer(holder.token))
    items = answer.get_json()["items"]
    assert [i["credential_id"] for i in items] == [second["credential_id"],
                                                   first["credential_id"]]
    assert "claims" not in items[0] and "qr" not in items[0]


# --- Online verification -----------------------------------------------------------------------

def test_every_online_check_is_in_the_citizens_access_log_with_the_verifier(client, db_session,
                                                                            holder, officer):
    before = total(db_session, metric="credentials.verified")
    verify(client, officer, holder.issued()["qr"])
    entries = [e for e in holder.access_log() if e["action"] == "credential.verified"]
    assert entries and entries[0]["by"] == "Công an Thành phố Hà Nội"
    assert total(db_session, metric="credentials.verified") == before + 1


def test_revoked_by_the_holder_is_refused_online(client, holder, officer):
    issued = holder.issued()
    answer = client.post(f"/api/v1/credentials/{issued['credential_id']}/revoke",
                         headers=bearer(holder.token))
    assert answer.status_code == 200 and answer.get_json()["revoked_at"]
    result = verify(client, officer, issued["qr"])
    assert (result["valid"], result["reason"], result["claims"]) == (False, "revoked", None)
    assert_error(client.post(f"/api/v1/credentials/{issued['credential_id']}/revoke",
                             headers=bearer(holder.token)), 409, "credential.already_revoked")


def test_a_credential_from_a_phone_its_owner_locked_is_refused_online(client, holder, officer):
    """A lost phone still shows the last QR: once the citizen locks the account, the state no
    longer vouches for it online, though its signature and lifetime are fine."""
    issued = holder.issued()
    assert verify(client, officer, issued["qr"])["valid"] is True
    locked = client.post("/api/v1/me/lock", headers=bearer(holder.token))
    assert locked.status_code == 200, locked.get_json()
    result = verify(client, officer, issued["qr"])
    assert (result["valid"], result["reason"], result["claims"]) == (False, "revoked", None)


def test_one_time_types_are_already_used_the_second_time(client, holder, officer):
    qr = holder.issued("age_over_18")["qr"]
    assert verify(client, officer, qr)["valid"] is True
    assert verify(client, officer, qr)["reason"] == "already_used"
    reusable = holder.issued("identity_basic")["qr"]
    assert verify(client, officer, reusable)["valid"] and verify(client, officer, reusable)["valid"]


def test_expired_online_is_reported_and_logged_to_the_holder(client, holder, officer):
    qr = holder.issued()["qr"]
    with time_machine.travel(dt.datetime.now(dt.timezone.utc) + dt.timedelta(minutes=3)):
        result = verify(client, officer, qr)
    assert result["reason"] == "expired"
    results = [e["details"]["result"] for e in holder.access_log()
               if e["action"] == "credential.verified"]
    assert results == ["expired"]


def test_audience_and_nonce_online(client, holder, officer):
    qr = holder.issued(audience="rp:vcb01", nonce="abcd-12345")["qr"]
    assert verify(client, officer, qr, audience="rp:tcb02")["reason"] == "wrong_audience"
    assert verify(client, officer, qr, audience="rp:vcb01",
                  nonce="other-1234")["reason"] == "nonce_mismatch"
    assert verify(client, officer, qr, audience="rp:vcb01", nonce="abcd-12345")["valid"]


def test_garbage_is_malformed_not_an_error(client, officer, issuer_key):
    for qr in ("hello", "VN1:", "VN1:" + "A" * 1999, "VN1:" + "A" * 5000):
        assert verify(client, officer, qr)["reason"] == "malformed"
    assert_error(client.post("/api/v1/credentials/verify", headers=bearer(officer),
                             json={"qr": "x" * 9000}), 422, "request.invalid")


def test_verifying_needs_an_officer(client, holder):
    answer = client.post("/api/v1/credentials/verify", headers=bearer(holder.token),
                         json={"qr": holder.issued()["qr"]})
    assert_error(answer, 403, "auth.officer_only")


@pytest.mark.parametrize("qr", ["the holder's", "VN1:" + "A" * 40], ids=["valid", "garbage"])
def test_a_deactivated_officers_verification_is_refused_and_not_recorded(
        client, db_session, protector, holder, qr):
    """The officer's row is read with the credential's (identity.credentials.online): a token
    whose officer was deactivated since hears 401, valid QR or not, and leaves no trace in the
    holder's access log."""
    officer = logged_in_officer(client, db_session, protector, username="officer.gone")
    text = holder.issued()["qr"] if qr == "the holder's" else qr
    assert verify(client, officer.token, text)["valid"] is (qr == "the holder's")
    checks = len([e for e in holder.access_log() if e["action"] == "credential.verified"])
    officers.deactivate_officer(db_session=db_session, actor=OPERATOR, username=officer.username)
    for body in ({"qr": text}, {"qr": 42}):  # readable or not: 401 before anything else
        assert_error(client.post("/api/v1/credentials/verify", headers=bearer(officer.token),
                                 json=body), 401, "auth.invalid_token")
    assert len([e for e in holder.access_log()
                if e["action"] == "credential.verified"]) == checks


# --- Keys: rotation and revocation -------------------------------------------------------------

def _trust(client: Any) -> vn1.TrustList:
    return vn1.TrustList.from_json(client.get("/.well-known/vnid-keys.json").get_json())


def test_after_rotation_old_credentials_verify_until_they_expire(
        client, db_session, protector, holder, officer, issuer_key):
    old = holder.issued()["qr"]
    new_key = keys.rotate_keys(db_session=db_session, protector=protector, actor=OPERATOR)
    statuses = {k["kid"]: k["status"] for k in client.get("/.well-known/vnid-keys.json")
                .get_json()["keys"]}
    assert statuses == {issuer_key.kid: "retired", new_key.kid: "active"}
    assert verify(client, officer, old)["valid"] is True
    fresh = holder.issued()["qr"]
    assert vn1.verify(fresh, _trust(client)).kid == vn1.unb64url(new_key.kid)
    with time_machine.travel(dt.datetime.now(dt.timezone.utc) + dt.timedelta(minutes=3)):
        assert verify(client, officer, old)["reason"] == "expired"


def test_a_revoked_key_invalidates_everything_it_signed_at_once(
        client, db_session, protector, holder, officer, issuer_key):
    qr = holder.issued()["qr"]
    assert verify(client, officer, qr)["valid"] is True  # the trust list is now cached
    keys.rotate_keys(db_session=db_session, protector=protector, actor=OPERATOR)
    keys.revoke_key(db_session=db_session, actor=OPERATOR, kid=issuer_key.kid)
    assert verify(client, officer, qr)["reason"] == "key_revoked"
    assert vn1.verify(holder.issued()["qr"], _trust(client))  # the new key signs


def test_the_trust_list_is_public_and_cacheable(client, issuer_key):
    answer = client.get("/.well-known/vnid-keys.json")
    assert answer.status_code == 200
    assert answer.headers["Cache-Control"] == "public, max-age=300"
    document = answer.get_json()
    assert document["issuer"] == "VN"
    (entry,) = document["keys"]
    assert {k: entry[k] for k in ("kty", "crv", "alg", "use", "status")} == {
        "kty": "EC", "crv": "P-256", "alg": "ES256", "use": "sig", "status": "active"}
    assert entry["not_before"].endswith("Z") and entry["not_after"] is None
    again = client.get("/.well-known/vnid-keys.json",
                       headers={"If-None-Match": answer.headers["ETag"]})
    assert again.status_code == 304


def test_private_keys_are_encrypted_at_rest_and_bound_to_their_kid(app, db_session, issuer_key):
    stored = db_session.scalar(sa.select(IssuerKey.private_key_encrypted))
    with app.app_context():
        protector = get_protector()
    opened = protector.decrypt(stored, context=b"issuer-key/" + issuer_key.kid.encode())
    der = base64.b64decode(opened)
    assert der not in stored and serialization.load_der_private_key(der, None)
    with pytest.raises(KeyMaterialError):
        protector.decrypt(stored, context=b"issuer-key/another")


# --- Officers revoke inside their jurisdiction -------------------------------------------------

def test_an_officer_revokes_only_inside_the_jurisdiction(client, db_session, protector, holder,
                                                         officer):
    issued = holder.issued()
    hcm_token = logged_in_officer(client, db_session, protector, username="officer.hcm",
                                  province_code="79").token
    path = f"/api/v1/police/credentials/{issued['credential_id']}/revoke"
    assert_error(client.post(path, headers=bearer(hcm_token)), 403,
                 "officer.outside_jurisdiction")
    assert client.post(path, headers=bearer(officer)).status_code == 200
    assert verify(client, officer, issued["qr"])["reason"] == "revoked"
    assert_error(client.post("/api/v1/police/credentials/" + "0" * 32 + "/revoke",
                             headers=bearer(officer)), 404, "credential.not_found")


def test_a_route_that_never_reads_the_officers_row_does_not_answer_unchecked(
        app, client, db_session, protector):
    """officer_token_required reads the row itself when the route ends, or fails, without it:
    a deactivated officer hears 401, a current one is served with the row checked."""
    from flask import g

    from app.auth import officer_token_required
    from identity.accounts.errors import InvalidToken

    officer = logged_in_officer(client, db_session, protector, username="officer.forgets")
    served = officer_token_required(lambda: "served")  # a route that forgot the row

    def failing() -> str:
        raise ValueError("the route's own error")

    with app.test_request_context(headers=bearer(officer.token)):
        assert served() == "served" and g.officer_row.username == "officer.forgets"
    officers.deactivate_officer(db_session=db_session, actor=OPERATOR, username=officer.username)
    for route in (served, officer_token_required(failing)):
        with app.test_request_context(headers=bearer(officer.token)):
            with pytest.raises(InvalidToken):
                route()
