"""Every answer carries the security headers: walked over every operation of the OpenAPI document.

nosniff, X-Frame-Options, a CSP (``default-src 'none'`` on non-HTML answers;
pages load from this origin only, inline scripts by hash), no-store on
everything not plainly public (errors included), HSTS in production.
"""
from __future__ import annotations

import re
from typing import Any

import pytest

from app.security_headers import API_POLICY, HSTS, PUBLIC_ENDPOINTS, inline_script_hashes
from identity.audit.service import Actor
from identity.monitoring import operators
from tests.factories import add_citizen
from tests.flows import Phone, bearer, login, register
from tests.security.test_authorisation_matrix import _call, _document, _url

#: Operations whose successful answers are public and may be cached (app/security_headers.py).
PUBLIC_OPERATIONS = {
    "GET /api/v1/admin-units/provinces", "GET /api/v1/admin-units/former-provinces",
    "GET /api/v1/admin-units/provinces/{province_code}/communes", "GET /api/v1/payments/banks",
    "GET /.well-known/vnid-keys.json"}
PAGES = ["/docs", "/dashboard/login", "/dashboard", "/api/v1/openapi.json", "/healthz",
         "/metrics", "/no/such/page", "/static/dashboard/dashboard.js",
         "/docs/static/swagger-ui-bundle.js"]


def _callers(client: Any, db_session: Any, protector: Any) -> dict[str, dict[str, str]]:
    citizen = add_citizen(db_session, protector, province_code="01")
    phone = Phone()
    register(client, citizen, phone)
    _operator, token = operators.create_operator(
        db_session=db_session, actor=Actor(type="operator"), name="Headers")
    return {"anonymous": {},
            "citizen": bearer(login(client, citizen.personal_id, phone)["access_token"]),
            "operator": bearer(token)}


def _wrong_headers(response: Any, *, production: bool) -> list[str]:
    headers = response.headers
    wrong = []
    if headers.get("X-Content-Type-Options") != "nosniff":
        wrong.append("no nosniff")
    if headers.get("X-Frame-Options") != "DENY":
        wrong.append("no X-Frame-Options")
    policy = headers.get("Content-Security-Policy", "")
    if "frame-ancestors 'none'" not in policy or "default-src 'none'" not in policy:
        wrong.append(f"CSP {policy!r}")
    if "unsafe-inline" in re.sub(r"style-src[^;]*", "", policy) or "unsafe-eval" in policy:
        wrong.append(f"CSP allows inline scripts: {policy!r}")
    if headers.get("Referrer-Policy") not in ("no-referrer", "same-origin"):
        wrong.append("no Referrer-Policy")
    if (headers.get("Strict-Transport-Security") == HSTS) != production:
        wrong.append(f"HSTS {headers.get('Strict-Transport-Security')!r}")
    return wrong


@pytest.mark.parametrize("production", [False, True], ids=["testing", "production"])
def test_every_operation_answers_with_the_security_headers(app, client, db_session, protector,
                                                           monkeypatch, production):
    callers = _callers(client, db_session, protector)
    if production:  # the hook reads the environment per answer
        monkeypatch.setitem(app.config, "ENV_NAME", "production")
    wrong: list[str] = []
    seen_2xx = 0
    for method, path, key in _document(client):
        if key in ("POST /api/v1/auth/logout", "POST /api/v1/me/lock"):
            continue  # they would end the citizen's session for the rest of the walk
        for name, headers in callers.items():
            response = _response(client, method, _url(path, {}), headers)
            problems = _wrong_headers(response, production=production)
            cache = response.headers.get("Cache-Control", "")
            public = key in PUBLIC_OPERATIONS and response.status_code < 400
            if not public and cache != "no-store" and "no-store" not in cache.split(", "):
                problems.append(f"Cache-Control {cache!r}")
            if public and "no-store" in cache:
                problems.append("a public answer marked no-store")
            if response.mimetype != "text/html" and response.headers.get(
                    "Content-Security-Policy") != API_POLICY:
                problems.append("not the API policy")
            seen_2xx += response.status_code < 300
            wrong += [f"{key} as {name} ({response.status_code}): {p}" for p in problems]
    assert not wrong, "\n".join(wrong)
    assert seen_2xx > 30  # the walk saw real answers with personal data, not only refusals


def _response(client: Any, method: str, url: str, headers: dict[str, str]) -> Any:
    if method == "GET":
        return client.get(url, headers=headers)
    assert _call  # same bodies as the authorisation matrix: {} (a 422 is an answer too)
    return client.open(url, method=method, headers=headers, json={})


@pytest.mark.parametrize("production", [False, True], ids=["testing", "production"])
@pytest.mark.parametrize("path", PAGES)
def test_pages_and_files_answer_with_the_security_headers(app, client, monkeypatch, path,
                                                          production):
    if production:
        monkeypatch.setitem(app.config, "ENV_NAME", "production")
    with client.get(path) as response:
        assert response.status_code in (200, 302, 404), path
        assert not _wrong_headers(response, production=production)
        public = response.status_code == 200 and path.startswith(
            ("/docs", "/static", "/api/v1/open"))
        assert ("no-store" in response.headers["Cache-Control"]) != public


def test_the_docs_page_runs_its_inline_script_by_hash_only(client):
    page = client.get("/docs")
    policy = page.headers["Content-Security-Policy"]
    hashes = inline_script_hashes(page.get_data(as_text=True))
    assert hashes and all(source in policy for source in hashes)
    script_src = re.search(r"script-src([^;]*)", policy).group(1).split()
    assert set(script_src) == {"'self'", *hashes}


def test_the_dashboard_allows_no_inline_script_or_style(client):
    policy = client.get("/dashboard/login").headers["Content-Security-Policy"]
    assert "script-src 'self';" in policy and "style-src 'self';" in policy
    assert "form-action 'self'" in policy


def test_an_error_of_a_public_endpoint_is_not_cached(client):
    answer = client.get("/api/v1/admin-units/provinces/99/communes")
    assert answer.status_code == 404
    assert answer.headers["Cache-Control"] == "no-store"
    assert client.get("/api/v1/admin-units/provinces").headers["Cache-Control"] != "no-store"


def test_the_public_endpoints_exist():
    assert {"static", "wellknown.trust_list", "api-docs.openapi_json"} <= PUBLIC_ENDPOINTS
