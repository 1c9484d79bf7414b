"""The dashboard's pages through the test client: login, session, logout, headers."""
from __future__ import annotations

import re

from identity.monitoring import operators
from tests.factories import add_account
from tests.identity.monitoring.helpers import ACTOR, new_operator


def log_in(client, token):
    return client.post("/dashboard/login", data={"token": token})


def test_without_a_session_the_dashboard_sends_to_the_login_page(client):
    answer = client.get("/dashboard")
    assert answer.status_code == 302 and answer.headers["Location"].endswith("/dashboard/login")
    page = client.get("/dashboard/login")
    assert page.status_code == 200 and b'name="token"' in page.data
    assert "script-src 'self'" in page.headers["Content-Security-Policy"]


def test_a_bad_token_gets_a_clear_message_and_no_cookie(client, db_session):
    answer = log_in(client, "vnidop_" + "x" * 43)
    assert answer.status_code == 401
    assert "Mã truy cập không hợp lệ" in answer.get_data(as_text=True)
    assert "Set-Cookie" not in answer.headers


def test_login_sets_a_strict_httponly_session_and_shows_the_numbers(app, client, db_session,
                                                                    protector, monkeypatch):
    monkeypatch.setitem(app.config, "STATS_MIN_COUNT", 0)  # the raw figures: nothing hidden
    add_account(db_session, protector)
    add_account(db_session, protector, province_code="79", commune_code="25747", level=2)
    answer = log_in(client, new_operator(db_session))
    assert answer.status_code == 303
    cookie = answer.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie
    assert "vnidop_" not in cookie
    page = client.get("/dashboard").get_data(as_text=True)
    total = re.search(r'data-stat="accounts.total">([^<]+)<', page).group(1)
    assert total == "2"
    assert "Thành phố Hồ Chí Minh" in page and "uPlot.iife.min.js" in page
    province = client.get("/dashboard?province=79").get_data(as_text=True)
    assert re.search(r'data-stat="accounts.level2_active">([^<]+)<', province).group(1) == "1"
    assert client.get("/dashboard?province=99").status_code == 404


def test_disabling_the_operator_ends_the_session(client, db_session):
    log_in(client, new_operator(db_session))
    assert client.get("/dashboard").status_code == 200
    operators.disable_operator(db_session=db_session, actor=ACTOR, name="Bộ Công an A06")
    assert client.get("/dashboard").status_code == 302


def test_logout_is_post_only_and_ends_the_session(client, db_session):
    log_in(client, new_operator(db_session))
    assert client.get("/dashboard/logout").status_code == 405
    assert client.post("/dashboard/logout").status_code == 303
    assert client.get("/dashboard").status_code == 302


def test_a_cookie_copied_before_logout_is_refused_after_it(app, client, db_session, redis):
    answer = log_in(client, new_operator(db_session))
    copied = re.search(r"vnid_dashboard=([^;]+)", answer.headers["Set-Cookie"]).group(1)
    assert client.get("/dashboard").status_code == 200
    assert client.post("/dashboard/logout").status_code == 303
    replay = app.test_client()
    replay.set_cookie("vnid_dashboard", copied)
    answer = replay.get("/dashboard")
    assert answer.status_code == 302 and answer.headers["Location"].endswith("/dashboard/login")


def test_the_session_lives_server_side_without_the_token_or_the_id(client, db_session, redis):
    log_in(client, new_operator(db_session))
    keys = [key.decode() if isinstance(key, bytes) else key
            for key in redis.scan_iter("dashboard:session:*")]
    assert len(keys) == 1
    cookie = client.get_cookie("vnid_dashboard").value
    assert cookie.split(".")[0] not in keys[0]  # the key is a digest, not the cookie's id
    redis.delete(keys[0])  # a lost Redis session (expiry, restart) fails closed
    assert client.get("/dashboard").status_code == 302


def test_a_cookie_of_the_old_shape_opens_nothing(app, client, db_session):
    log_in(client, new_operator(db_session))
    with client.session_transaction() as flask_session:
        flask_session.clear()
        flask_session["operator_id"] = 1  # an id alone, as the cookie held before
    assert client.get("/dashboard").status_code == 302


def test_a_cross_site_login_post_is_refused(client, db_session):
    token = new_operator(db_session)
    answer = client.post("/dashboard/login", data={"token": token},
                         headers={"Origin": "https://evil.example"})
    assert answer.status_code == 403


def test_the_vendored_chart_library_is_served_locally(client):
    answer = client.get("/static/vendor/uplot/uPlot.iife.min.js")
    assert answer.status_code == 200 and b"uPlot" in answer.data
    answer.close()
