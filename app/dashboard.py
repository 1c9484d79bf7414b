"""The monitoring dashboard at ``/dashboard``: the rollout at a glance, for ministry officials.

Server-rendered (Jinja) from the same service functions as the statistics
API; the charts are drawn by uPlot, served from ``app/static/vendor`` (no
CDN: the service works with no internet). Operators log in by pasting their
admin token once; the session is kept in Redis and named by Flask's signed
cookie (HttpOnly, SameSite=Strict), so logout ends it on the server.
Login and logout are POST only; with SameSite=Strict no other site can
send the cookie, and a POST whose ``Origin`` is another site
is refused, so no CSRF token is needed.
"""
from __future__ import annotations

import datetime as dt
from typing import Any

from flask import (Blueprint, Flask, Response, abort, current_app, make_response, redirect,
                   render_template, request, url_for)

from app import context as ctx
from app.extensions import db
from app.operator_auth import (configure_session, current_operator, dashboard_login_required,
                               end_session, start_session)
from identity.errors import DomainError
from identity.monitoring import operators, published, statistics
from identity.monitoring.errors import InvalidOperatorToken

blueprint = Blueprint("dashboard", __name__, url_prefix="/dashboard")

METRIC_LABELS = {
    "reports.filed": ("Tố giác, tin báo", "Incident reports"),
    "residence.temporary_stay.declared": ("Khai báo tạm trú", "Temporary stays"),
    "residence.absence.declared": ("Khai báo tạm vắng", "Absences"),
    "residence.lodging.notified": ("Thông báo lưu trú", "Lodging notices"),
    "payments.paid": ("Thanh toán", "Payments"),
    "credentials.issued": ("Giấy tờ số đã cấp", "Credentials issued"),
    "credentials.verified": ("Lượt xác thực", "Credential verifications"),
    "consents.given": ("Đồng ý chia sẻ dữ liệu", "Data-sharing consents"),
}
STATUS_LABELS = {"active": "Đã kích hoạt", "pending_review": "Chờ duyệt", "locked": "Bị khoá",
                 "rejected": "Từ chối", "closed": "Đã đóng"}


#: How the dashboard shows a hidden count (under STATS_MIN_COUNT, or giving one back).
HIDDEN = "—"


def _number(value: Any) -> str:
    """1234567 -> 1.234.567 (Vietnamese grouping); a hidden count (None) -> —."""
    if value is None:
        return HIDDEN
    return f"{int(value):,}".replace(",", ".")


def _percent(value: Any) -> str:
    """0.0523 -> +5,2 %."""
    if value is None:
        return HIDDEN
    return f"{value * 100:+.1f} %".replace(".", ",")


def _share(part: Any, whole: Any) -> float:
    """``part`` as a percentage of ``whole``; 0 when either is hidden (a bar never hints)."""
    if part is None or not whole:
        return 0.0
    return round(part / whole * 100, 1)


def _same_origin() -> bool:
    origin = request.headers.get("Origin")
    return origin is None or origin == request.host_url.rstrip("/")


def _page(template: str, status: int = 200, **context: Any) -> Response:
    """A rendered page; its headers (CSP, no-store, ...) come from app/security_headers.py."""
    return make_response(render_template(template, **context), status)


@blueprint.get("")
@dashboard_login_required
def dashboard() -> Response:
    """The rollout at a glance: the country, or one province (``?province=01``)."""
    province_code = request.args.get("province")
    try:
        place = statistics.province_place(province_code) if province_code else None
    except DomainError:
        abort(404)
    target = float(current_app.config["ROLLOUT_MONTHLY_GROWTH_TARGET"])
    min_count = int(current_app.config["STATS_MIN_COUNT"])
    fresh = float(current_app.config["STATS_FRESH_SECONDS"])
    # The protected tables, read once for the whole page (the figures and the ranking).
    table = published.account_table(db.session(), min_count, fresh)
    counters = (published.counter_tables(db_session=db.session(), min_count=min_count,
                                         fresh_seconds=fresh)
                if min_count > 0 else None)
    data = published.overview(db_session=db.session(), place=place, target=target,
                              min_count=min_count, accounts=table, counters=counters)
    ranking = (published.provinces(db_session=db.session(), min_count=min_count, accounts=table,
                                   counters=counters)
               if place is None else published.communes(db_session=db.session(), place=place,
                                                        min_count=min_count, accounts=table))
    chart = {"months": data["growth"]["months"],
             "days": [{**row, "day": row["day"].isoformat()}
                      for row in data["registrations"]["days"]],
             "target": target}
    return _page("dashboard/dashboard.html", data=data, ranking=ranking, chart=chart,
                 province=place, operator=current_operator(), labels=METRIC_LABELS,
                 status_labels=STATUS_LABELS, generated=dt.datetime.now(dt.timezone.utc))


@blueprint.get("/login")
def login() -> Response:
    """The login form."""
    return _page("dashboard/login.html")


@blueprint.post("/login")
def login_submit() -> Response:
    """Exchange the pasted admin token for a session cookie."""
    if not _same_origin():
        abort(403)
    token = (request.form.get("token") or "").strip()
    try:
        operator = operators.operator_for_token(db_session=ctx.db_session(), token=token)
    except InvalidOperatorToken:
        return _page("dashboard/login.html", status=401,
                     error="Mã truy cập không hợp lệ hoặc đã bị vô hiệu hoá. "
                           "The admin token is not valid or was disabled.")
    start_session(operator)
    return redirect(url_for("dashboard.dashboard"), 303)  # type: ignore[return-value]


@blueprint.post("/logout")
def logout() -> Response:
    """End the session, on the server too: a copy of the cookie opens nothing afterwards."""
    if not _same_origin():
        abort(403)
    end_session()
    return redirect(url_for("dashboard.login"), 303)  # type: ignore[return-value]


def register_dashboard(app: Flask) -> None:
    """The dashboard pages, their session cookie and template filters."""
    configure_session(app)
    app.jinja_env.filters["num"] = _number
    app.jinja_env.filters["pct"] = _percent
    app.jinja_env.globals["share"] = _share
    app.register_blueprint(blueprint)
