"""The security headers of every answer, set in one ``after_request`` hook.

- ``X-Content-Type-Options: nosniff``, ``X-Frame-Options: DENY`` and a
  ``Content-Security-Policy`` on every answer, in every environment, so the
  test suite sees what production sends. JSON and other non-HTML answers get
  ``default-src 'none'`` (nothing in them may load or run). HTML pages (the
  dashboard, ``/docs``) may load scripts, styles and images from this origin
  only; an inline script runs only when its SHA-256 hash is in the policy
  (computed from the page itself: the Swagger UI page's start-up script),
  never ``'unsafe-inline'``. ``/docs`` alone allows inline styles (Swagger
  UI writes some); the dashboard allows none. ``frame-ancestors 'none'``
  everywhere.
- ``Referrer-Policy: no-referrer``, except the dashboard's pages:
  ``same-origin``, since with ``no-referrer`` a browser sends ``Origin:
  null`` on a same-origin form POST and the dashboard's login and logout
  check ``Origin``.
- ``Cache-Control: no-store`` on every answer that is not plainly public:
  every API answer (they carry personal data, tokens or an operator's
  statistics), every error body (public endpoints included), the dashboard,
  ``/healthz`` and ``/metrics``. Public and cacheable, on success only: the
  administrative units, the bank list, the trust list
  (``/.well-known/vnid-keys.json``, which sets its own max-age), the OpenAPI
  document, ``/docs`` and the static files; they keep the view's own
  ``Cache-Control``, else ``public, max-age=300``.
- The browser clients (``/app/``, ``/police/``, ``/verify/``, see
  :mod:`app.clients`) carry :data:`app.clients.CLIENT_POLICY` on every file
  (a service worker's own policy is the one its script is served with), and
  are public: their pages are revalidated on each load, their modules cached.
- In production, ``Strict-Transport-Security: max-age=63072000;
  includeSubDomains`` (two years; the service is served over HTTPS only).
"""
from __future__ import annotations

import base64
import hashlib
import re

from flask import Flask, Response, current_app, request

from app.clients import CLIENT_POLICY

HSTS = "max-age=63072000; includeSubDomains"
API_POLICY = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
#: The policy of HTML pages; ``{scripts}`` and ``{styles}`` are filled per page.
PAGE_POLICY = ("default-src 'none'; script-src 'self'{scripts}; style-src 'self'{styles}; "
               "img-src 'self' data:; font-src 'self'; connect-src 'self'; "
               "frame-ancestors 'none'; form-action 'self'; base-uri 'none'")
#: Endpoints whose successful answers are public and may be cached.
PUBLIC_ENDPOINTS = frozenset({
    "static", "docs_static.static", "api-docs.openapi_json", "api-docs.openapi_swagger_ui",
    "wellknown.trust_list", "payments.list_banks", "admin_units.list_provinces",
    "admin_units.list_communes", "admin_units.list_former_provinces"})
#: Pages whose inline styles are allowed (Swagger UI's own markup).
INLINE_STYLE_ENDPOINTS = frozenset({"api-docs.openapi_swagger_ui"})
PUBLIC_CACHE = "public, max-age=300"
_INLINE_SCRIPT = re.compile(r"<script(?P<attrs>[^>]*)>(?P<body>.*?)</script>", re.S | re.I)
_NOT_RUN = re.compile(r"""\btype\s*=\s*["']?application/(?:ld\+)?json""", re.I)


def inline_script_hashes(html: str) -> list[str]:
    """The CSP source of each inline script a page runs (``'sha256-...'``).

    Scripts with ``src`` are covered by ``'self'``; JSON data blocks
    (``type="application/json"``) are never run, so they need no hash.
    """
    hashes = []
    for match in _INLINE_SCRIPT.finditer(html):
        attrs = match.group("attrs")
        if re.search(r"\bsrc\s*=", attrs, re.I) or _NOT_RUN.search(attrs):
            continue
        digest = hashlib.sha256(match.group("body").encode("utf-8")).digest()
        hashes.append(f"'sha256-{base64.b64encode(digest).decode('ascii')}'")
    return hashes


def _page_policy(response: Response, endpoint: str) -> str:
    """The policy of an HTML page: its own inline scripts hashed, inline styles on /docs."""
    # A streamed page is not read here (that would consume it): its inline scripts do not run.
    hashes = [] if response.is_streamed else inline_script_hashes(
        response.get_data(as_text=True))
    return PAGE_POLICY.format(
        scripts="".join(" " + source for source in hashes),
        styles=" 'unsafe-inline'" if endpoint in INLINE_STYLE_ENDPOINTS else "")


def _cache_control(response: Response, endpoint: str) -> str:
    """``no-store`` unless the answer is a successful one of a public endpoint."""
    own = response.headers.get("Cache-Control", "")
    public = endpoint in PUBLIC_ENDPOINTS or endpoint.startswith("clients.")
    if public and response.status_code < 400:
        return own or PUBLIC_CACHE
    return own if "no-store" in own else "no-store"  # keeps a view's "private, no-store"


def set_security_headers(response: Response) -> Response:
    """Put the headers of this module's docstring on one answer."""
    endpoint = request.endpoint or ""
    html = response.mimetype == "text/html" and not response.direct_passthrough
    headers = response.headers
    headers["X-Content-Type-Options"] = "nosniff"
    headers["X-Frame-Options"] = "DENY"
    client = endpoint.startswith("clients.")
    headers["Content-Security-Policy"] = (CLIENT_POLICY if client else
                                          _page_policy(response, endpoint) if html
                                          else API_POLICY)
    headers["Referrer-Policy"] = ("same-origin" if endpoint.startswith("dashboard.")
                                  else "no-referrer")
    headers["Cache-Control"] = _cache_control(response, endpoint)
    if current_app.config["ENV_NAME"] == "production":
        headers["Strict-Transport-Security"] = HSTS
    return response


def api_headers(production: bool) -> list[tuple[str, str]]:
    """What :func:`set_security_headers` puts on an answer of a JSON API endpoint that is not
    public, status whatever (:mod:`app.hot_lane` sends them without a ``Response``)."""
    headers = [("X-Content-Type-Options", "nosniff"), ("X-Frame-Options", "DENY"),
               ("Content-Security-Policy", API_POLICY), ("Referrer-Policy", "no-referrer"),
               ("Cache-Control", "no-store")]
    return headers + [("Strict-Transport-Security", HSTS)] if production else headers


def register_security_headers(app: Flask) -> None:
    """Install the hook on every answer, errors and static files included."""
    app.after_request(set_security_headers)
