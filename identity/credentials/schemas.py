"""Marshmallow schemas of the credentials API."""
from __future__ import annotations

from marshmallow import Schema, fields, validate

from identity.schema_fields import Page

#: What a verifier may put in ``aud`` and ``n``: short, so that the longest identity
#: credential still fits a version 12 QR (docs/vn1.md); URL-safe characters.
MAX_AUDIENCE, MIN_NONCE, MAX_NONCE = 16, 8, 12
_TOKEN = validate.Regexp(rf"^[A-Za-z0-9._~:-]{{1,{MAX_AUDIENCE}}}$",
                         error=f"Use 1 to {MAX_AUDIENCE} letters, digits or . _ ~ : -")
_NONCE = validate.Regexp(rf"^[A-Za-z0-9._~-]{{{MIN_NONCE},{MAX_NONCE}}}$",
                         error=f"Use {MIN_NONCE} to {MAX_NONCE} letters, digits or . _ ~ -")


class CredentialCreate(Schema):
    """Issue a credential; ``audience`` and ``nonce`` when a verifier asked for them."""

    type = fields.String(required=True, validate=validate.Length(max=32),
                         metadata={"example": "identity",
                                   "description": "identity (level 2), identity_basic, "
                                                  "age_over_18, residence"})
    passcode = fields.String(required=True, validate=validate.Length(max=64))
    audience = fields.String(load_default=None, validate=_TOKEN,
                             metadata={"example": "rp:vcb01"})
    nonce = fields.String(load_default=None, validate=_NONCE)


class CredentialIssued(Schema):
    """A new credential. Render ``qr`` as a QR code (alphanumeric mode, error correction M)."""

    credential_id = fields.String(required=True)
    qr = fields.String(required=True, metadata={"description": "The VN1: text"})
    expires_at = fields.DateTime(required=True)
    type = fields.String(required=True)


class CredentialRead(Schema):
    """One of the holder's credentials (never its claims)."""

    credential_id = fields.String(required=True, attribute="id")
    type = fields.String(required=True)
    audience = fields.String(allow_none=True)
    issued_at = fields.DateTime(required=True)
    expires_at = fields.DateTime(required=True)
    revoked_at = fields.DateTime(allow_none=True)
    used_at = fields.DateTime(allow_none=True)


class CredentialPage(Page):
    items = fields.List(fields.Nested(CredentialRead), required=True)


class CredentialStatus(Schema):
    credential_id = fields.String(required=True, attribute="id")
    revoked_at = fields.DateTime(allow_none=True)


class VerifyRequest(Schema):
    """A scanned ``VN1:`` text, and what the verifier expects of it."""

    qr = fields.String(required=True, validate=validate.Length(max=8192))
    audience = fields.String(load_default=None, validate=_TOKEN)
    nonce = fields.String(load_default=None, validate=_NONCE)


class VerificationRead(Schema):
    """``valid``, or the spec's reason code; the claims only when valid."""

    valid = fields.Boolean(required=True)
    reason = fields.String(allow_none=True, required=True,
                           metadata={"description": "null when valid; else one of malformed, "
                                                    "unsupported_algorithm, unknown_key, "
                                                    "key_revoked, bad_signature, not_yet_valid, "
                                                    "expired, wrong_audience, nonce_mismatch, "
                                                    "revoked, already_used"})
    type = fields.String(allow_none=True)
    claims = fields.Dict(keys=fields.String(), values=fields.Raw(), allow_none=True)
    expires_at = fields.DateTime(allow_none=True)
    credential_id = fields.String(allow_none=True)


class TrustedKeyRead(Schema):
    kty = fields.String(required=True)
    crv = fields.String(required=True)
    x = fields.String(required=True)
    y = fields.String(required=True)
    kid = fields.String(required=True)
    alg = fields.String(required=True)
    use = fields.String(required=True)
    status = fields.String(required=True)
    not_before = fields.String(required=True)
    not_after = fields.String(allow_none=True, required=True)


class TrustListRead(Schema):
    """The trust list of the VN1 spec."""

    issuer = fields.String(required=True)
    keys = fields.List(fields.Nested(TrustedKeyRead), required=True)
