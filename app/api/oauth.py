"""The OAuth 2 token endpoint of relying parties (client credentials grant, RFC 6749 4.4)."""
from __future__ import annotations

from typing import Any

from flask import current_app, request
from marshmallow import Schema, fields, validate

from app import context as ctx
from app.auth import config_limit, limiter
from app.parsing import Blueprint
from app.rp_auth import issue_party_token
from identity.errors import InvalidInput
from identity.relying_parties import parties
from identity.relying_parties.errors import InvalidClient

blp = Blueprint("oauth", __name__, url_prefix="/oauth",
                description="Tokens for relying parties: `grant_type=client_credentials`, the "
                            "client authenticated by HTTP Basic (client id and secret) or by a "
                            "private-key JWT assertion (RFC 7523, ES256, registered P-256 key) "
                            "whose `aud` is the token endpoint's configured public URL "
                            "(`OAUTH_TOKEN_URL`), whatever Host the request names. "
                            "Errors use the service's uniform body; a client that cannot be "
                            "authenticated is 401 `oauth.invalid_client` whatever the reason.")


class TokenForm(Schema):
    """The form of a token request (``application/x-www-form-urlencoded``)."""

    grant_type = fields.String(required=True, validate=validate.Equal("client_credentials"))
    scope = fields.String(validate=validate.Length(max=200))
    client_assertion_type = fields.String(validate=validate.Equal(parties.ASSERTION_TYPE))
    client_assertion = fields.String(validate=validate.Length(max=4096))


class TokenRead(Schema):
    """An access token for the party."""

    access_token = fields.String(required=True)
    token_type = fields.String(required=True)
    expires_in = fields.Integer(required=True)
    scope = fields.String(required=True)


@blp.post("/token")
@limiter.limit(config_limit("AUTH_LIMIT_PER_IP"), scope="oauth:ip")
@blp.arguments(TokenForm, location="form")
@blp.response(200, TokenRead)
@blp.alt_response(401, description="`oauth.invalid_client`")
@blp.doc(security=[{"rpBasic": []}, {}])
def token(form: dict[str, Any]) -> Any:
    """A short-lived access token limited to the party's scopes (or those asked for)."""
    db_session, redis_client = ctx.db_session(), ctx.redis_client()
    if "client_assertion" in form:
        if "client_assertion_type" not in form:
            raise InvalidInput("client_assertion_type is required with client_assertion.",
                               code="oauth.invalid_request", field="client_assertion_type")
        # The configured URL, never one built from the Host header: a client chooses its
        # Host, so an assertion made for an attacker's endpoint would otherwise pass here.
        party = parties.authenticate_assertion(
            db_session=db_session, redis_client=redis_client, assertion=form["client_assertion"],
            token_endpoint=current_app.config["OAUTH_TOKEN_URL"])
    else:
        basic = request.authorization
        if basic is None or basic.type != "basic" or not basic.username or not basic.password:
            raise InvalidClient()
        party = parties.authenticate_secret(db_session=db_session,
                                            client_id=basic.username, secret=basic.password)
    return issue_party_token(party, parties.token_scopes(party, form.get("scope")))
