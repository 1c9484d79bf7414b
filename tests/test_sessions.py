"""The cookie sessions (app.extensions.CookieSessions): Flask's, without work for no cookie."""
from __future__ import annotations

from flask import Flask
from flask.sessions import SecureCookieSession

from app.extensions import CookieSessions


def _open(app: Flask, cookie: str | None) -> SecureCookieSession | None:
    headers = {"Cookie": f"{app.config['SESSION_COOKIE_NAME']}={cookie}"} if cookie else {}
    with app.test_request_context("/", headers=headers) as context:
        return app.session_interface.open_session(app, context.request)


def test_the_app_uses_them(app):
    assert isinstance(app.session_interface, CookieSessions)


def test_no_cookie_opens_a_new_empty_session(app):
    opened = _open(app, None)
    assert isinstance(opened, SecureCookieSession) and dict(opened) == {} and not opened.modified


def test_a_signed_cookie_is_read_and_a_forged_one_is_not(app):
    signed = app.session_interface.get_signing_serializer(app).dumps({"who": "operator-1"})
    assert dict(_open(app, signed)) == {"who": "operator-1"}
    assert dict(_open(app, signed[:-2] + "xx")) == {}


def test_without_a_secret_key_there_is_no_session_as_in_flask():
    bare = Flask("bare")
    bare.session_interface = CookieSessions()
    assert _open(bare, None) is None and _open(bare, "anything") is None


def test_other_cookies_alone_open_a_new_empty_session(app):
    with app.test_request_context("/", headers={"Cookie": "theme=dark; lang=vi"}) as context:
        opened = app.session_interface.open_session(app, context.request)
    assert isinstance(opened, SecureCookieSession) and dict(opened) == {}
