"""Police officers: accounts with TOTP, their login, their jurisdiction, and citizen look-ups.

An officer acts inside one province, or one commune of it. Every act on a
citizen is audited with the citizen as subject, so it shows in the citizen's
access log; a refused act (outside the jurisdiction) is audited too. The
officers' work on accounts lives with the use case it belongs to: the review
of registrations (``registration.py``), level 2 (``levels.py``), the device
rebind at the desk (``devices.py``), the reclaim (``reclaim.py``).
"""
from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol, cast

import pyotp
import sqlalchemy as sa
from sqlalchemy.orm import Session

from identity import clock
from identity.database import Statement
from identity.accounts.account import get_account_of
from identity.accounts.errors import AuthenticationFailed, InvalidToken
from identity.accounts.models import Account, Officer
from identity.accounts.secrets import burn_verification, check_password, hash_secret, verify_secret
from identity.accounts.sessions import Grant, officer_grant, start_session
from identity.audit.service import Actor, record_event
from identity.errors import Conflict, InvalidInput, NotFound
from identity.protection import Protector
from identity.registry import admin_units
from identity.registry.models import Citizen
from identity.registry.service import get_citizen

ROLES = ("officer", "supervisor")
TOTP_ISSUER = "VNeID Police"
TOTP_STEP_SECONDS = 30
_TOTP_CONTEXT = b"officer/totp/"
#: The longest an officer's session lasts: one shift.
OFFICER_SESSION_HOURS = 12


def _totp_context(username: str) -> bytes:
    return _TOTP_CONTEXT + username.encode()


class OfficerView(Protocol):
    """What acts read of an officer: the entity, or its row (:func:`officer_row_for_token`)."""

    id: int
    province_code: str
    commune_code: str | None


def officer_actor(officer: OfficerView, base: Actor) -> Actor:
    """The audit actor for an officer."""
    return Actor(type="officer", id=f"officer:{officer.id}", source=base.source,
                 request_id=base.request_id)


def unit_name(officer: OfficerView) -> str:
    """The police unit an officer belongs to, as the citizen reads it in the access log."""
    province = admin_units.provinces().get(officer.province_code)
    return f"Công an {province.name if province else officer.province_code}"


def _check_unit(province_code: str, commune_code: str | None) -> None:
    if province_code not in admin_units.provinces():
        raise InvalidInput("Unknown province code.", code="province.unknown", field="province")
    if commune_code is not None and not admin_units.commune_in_province(commune_code,
                                                                        province_code):
        raise InvalidInput("Unknown commune code for this province.", code="commune.unknown",
                           field="commune")


def create_officer(*, db_session: Session, protector: Protector, actor: Actor, username: str,
                   full_name: str, password: str, province_code: str,
                   commune_code: str | None, role: str) -> tuple[Officer, str]:
    """Create an officer; returns the officer and the TOTP provisioning URI (shown once)."""
    if role not in ROLES:
        raise InvalidInput("The role must be officer or supervisor.", code="officer.role",
                           field="role")
    _check_unit(province_code, commune_code)
    password = check_password(password)
    if db_session.scalar(sa.select(Officer.id).where(Officer.username == username)):
        raise Conflict("An officer with this username exists.", code="officer.exists")
    secret = pyotp.random_base32()
    officer = Officer(username=username, full_name=full_name, role=role,
                      province_code=province_code, commune_code=commune_code,
                      password_hash=hash_secret(password), last_totp_step=0, active=True,
                      totp_secret_encrypted=protector.encrypt(secret,
                                                              context=_totp_context(username)),
                      token_version=1)
    db_session.add(officer)
    db_session.flush()
    record_event(db_session=db_session, actor=actor, action="officer.created",
                 subject_type="officer", subject_id=officer.id,
                 details={"role": role, "province": province_code, "commune": commune_code})
    db_session.commit()
    uri = pyotp.TOTP(secret).provisioning_uri(name=username, issuer_name=TOTP_ISSUER)
    return officer, uri


def get_officer(*, db_session: Session, username: str) -> Officer:
    """The officer with this username, or :class:`NotFound`."""
    officer = db_session.scalars(sa.select(Officer).where(Officer.username == username)).first()
    if officer is None:
        raise NotFound("No officer has this username.", code="officer.not_found")
    return officer


def reassign_officer(*, db_session: Session, actor: Actor, username: str, province_code: str,
                     commune_code: str | None, role: str | None = None) -> Officer:
    """Move an officer to another unit (effective on their next request)."""
    # Every check before the first change: a refused reassignment leaves the officer as it was.
    if role is not None and role not in ROLES:
        raise InvalidInput("The role must be officer or supervisor.", code="officer.role",
                           field="role")
    _check_unit(province_code, commune_code)
    officer = get_officer(db_session=db_session, username=username)
    before = {"province": officer.province_code, "commune": officer.commune_code}
    officer.province_code, officer.commune_code = province_code, commune_code
    if role is not None:
        officer.role = role
    record_event(db_session=db_session, actor=actor, action="officer.reassigned",
                 subject_type="officer", subject_id=officer.id,
                 details={"before": before, "province": province_code, "commune": commune_code,
                          "role": officer.role})
    db_session.commit()
    return officer


def deactivate_officer(*, db_session: Session, actor: Actor, username: str) -> Officer:
    """Stop an officer from acting (effective on their next request)."""
    officer = get_officer(db_session=db_session, username=username)
    officer.active = False
    officer.token_version += 1
    record_event(db_session=db_session, actor=actor, action="officer.deactivated",
                 subject_type="officer", subject_id=officer.id)
    db_session.commit()
    return officer


def officer_login(*, db_session: Session, protector: Protector, actor: Actor, username: str,
                  password: str, totp: str,
                  session_hours: int = OFFICER_SESSION_HOURS) -> Grant:
    """Log an officer in with password and TOTP; each TOTP time step is accepted once.

    The session lasts one shift (``session_hours``, at most
    :data:`OFFICER_SESSION_HOURS`): after it the refresh token is refused and
    only a new login, with a new TOTP code, opens another. Wrong passwords and
    codes are counted per username in Redis before this runs (``auth_limits``
    of the route), so a guess is never compared past that budget.
    """
    officer = db_session.scalars(sa.select(Officer).where(Officer.username == username)).first()
    failure = None
    if officer is None:
        burn_verification(password)
        failure = "no_officer"
    else:
        if not verify_secret(officer.password_hash, password):
            failure = "password_wrong"
        elif not officer.active:
            failure = "inactive"
        else:
            secret = protector.decrypt(officer.totp_secret_encrypted,
                                       context=_totp_context(officer.username))
            step = _matching_step(secret, totp)
            if step is None:
                failure = "totp_wrong"
            elif not _claim_totp_step(db_session, officer, step):
                failure = "totp_replayed"
    if failure is not None or officer is None:
        record_event(db_session=db_session, actor=actor, action="auth.officer_login_failed",
                     subject_type="officer" if officer else None,
                     subject_id=officer.id if officer else None, details={"reason": failure})
        db_session.commit()
        raise AuthenticationFailed("The username, password or code is not right.")
    hours = min(session_hours, OFFICER_SESSION_HOURS)
    family = start_session(db_session, officer=officer, lifetime=dt.timedelta(hours=hours))
    record_event(db_session=db_session, actor=officer_actor(officer, actor),
                 action="auth.officer_login", subject_type="officer", subject_id=officer.id)
    db_session.commit()
    return officer_grant(officer, family)


def _claim_totp_step(db_session: Session, officer: Officer, step: int) -> bool:
    """Record ``step`` as used, atomically; False if it (or a later one) was used already."""
    result = db_session.execute(
        sa.update(Officer).where(Officer.id == officer.id, Officer.last_totp_step < step)
        .values(last_totp_step=step).execution_options(synchronize_session=False))
    return bool(getattr(result, "rowcount", 0))


def _matching_step(secret: str, code: object) -> int | None:
    """The time step (now, or one step either side for clock drift) whose code is ``code``."""
    if not (isinstance(code, str) and len(code) == 6 and code.isascii() and code.isdigit()):
        return None
    totp = pyotp.TOTP(secret)
    now_step = int(clock.now().timestamp()) // TOTP_STEP_SECONDS
    for step in (now_step, now_step - 1, now_step + 1):
        if secrets.compare_digest(totp.at(step * TOTP_STEP_SECONDS), code):
            return step
    return None


#: An officer's row, read for every request they make (Core, built once; no ORM entity).
_OFFICER_ROW = Statement(sa.select(Officer.__table__).where(
    Officer.__table__.c.id == sa.bindparam("officer_id")))


@dataclass(frozen=True)
class OfficerToken:
    """An officer's access token whose signature, type and claims were checked; the officer's
    row is still to be read and checked (:func:`checked_officer_row`)."""

    officer_id: int
    token_version: int


def checked_officer_row(officer: Any, token_version: int) -> Any:
    """``officer`` (a row of the officers' table, or None), if it is the row of an active
    officer whose token version is ``token_version``; else :class:`InvalidToken`."""
    if officer is None or not officer.active or officer.token_version != token_version:
        raise InvalidToken()
    return officer


def officer_row_for_token(*, db_session: Session, officer_id: int,
                          token_version: int) -> sa.Row[Any]:
    """The row of the officer an access token speaks for, if current and the officer active.

    Read from the database on every request, in one statement: deactivating
    an officer or logging them out moves their token version, so their tokens
    are refused on the next request.
    """
    return cast(sa.Row[Any], checked_officer_row(
        _OFFICER_ROW.first(db_session, {"officer_id": officer_id}), token_version))


# --- Jurisdiction ------------------------------------------------------------------------------

def in_jurisdiction(officer: OfficerView, province_code: str, commune_code: str) -> bool:
    """Whether a place is inside the officer's province (and commune, if they have one)."""
    return officer.province_code == province_code and (
        officer.commune_code is None or officer.commune_code == commune_code)


def _no_citizen() -> NotFound:
    """What an officer hears of a personal id that is unknown, or outside their jurisdiction."""
    return NotFound("No citizen has this personal id.", code="citizen.not_found")


def _no_account() -> NotFound:
    """What an officer hears of an account id that is unknown, or outside their jurisdiction."""
    return NotFound("No account has this id.", code="account.not_found")


def _require_jurisdiction(db_session: Session, officer: Officer, actor: Actor, citizen: Citizen,
                          action: str, missing: Callable[[], NotFound] = _no_citizen) -> None:
    """Refuse, and audit, an act on a citizen outside the officer's jurisdiction.

    The refusal is the same ``404`` as for an id that exists nowhere
    (``missing``): a ``403`` would tell an officer of one province who is
    registered in another. The audit row keeps the true reason, with the
    citizen as subject, so the citizen's access log shows the attempt.
    """
    if not in_jurisdiction(officer, citizen.province_code, citizen.commune_code):
        record_event(db_session=db_session, actor=officer_actor(officer, actor),
                     action=action + "_refused", subject_type="citizen", subject_id=citizen.id,
                     details={"reason": "outside_jurisdiction", "by": unit_name(officer)})
        db_session.commit()
        raise missing()


def account_in_jurisdiction(db_session: Session, officer: Officer, actor: Actor,
                            account_id: int, action: str) -> Account:
    """The account, if it exists and its citizen lives in the jurisdiction; one 404 otherwise."""
    account = db_session.get(Account, account_id)
    if account is None:
        _refuse_unknown(db_session, officer, actor, action, _no_account)
    assert account is not None
    _require_jurisdiction(db_session, officer, actor, account.citizen, action,
                          missing=_no_account)
    return account


def _refuse_unknown(db_session: Session, officer: Officer, actor: Actor, action: str,
                    missing: Callable[[], NotFound]) -> None:
    """Refuse an act on an id that exists nowhere, audited like one outside the jurisdiction.

    Both refusals write one audit row and commit, so neither the answer nor
    the time taken tells them apart; the rows show an officer probing ids.
    """
    record_event(db_session=db_session, actor=officer_actor(officer, actor),
                 action=action + "_refused",
                 details={"reason": "unknown", "by": unit_name(officer)})
    db_session.commit()
    raise missing()


def record_officer_act(db_session: Session, officer: Officer, actor: Actor, action: str,
                       citizen_id: int, **details: Any) -> None:
    """Record an officer's act on a citizen, naming the unit (it shows in their access log)."""
    record_event(db_session=db_session, actor=officer_actor(officer, actor), action=action,
                 subject_type="citizen", subject_id=citizen_id,
                 details={"by": unit_name(officer), **details})


# --- Looking up a citizen ---------------------------------------------------------------------

def look_up_citizen(*, db_session: Session, actor: Actor, officer: Officer,
                    personal_id: str, read_session: Session | None = None
                    ) -> tuple[Citizen, Account | None]:
    """A citizen of the officer's jurisdiction, with their account; the read is audited.

    An unknown personal id and one of another jurisdiction get the same
    ``404 citizen.not_found`` (the refused read is audited all the same).
    ``read_session`` (default ``db_session``) reads the citizen and the account, both before
    anything is written: a read replica's (:mod:`app.replica_reads`); the audit is written
    and committed on ``db_session``. The account is read only once the citizen is in the
    jurisdiction, so both refusals send the same statements.
    """
    reads = read_session or db_session
    citizen = get_citizen(db_session=reads, personal_id=personal_id)
    if citizen is None:
        _refuse_unknown(db_session, officer, actor, "citizen.read", _no_citizen)
    assert citizen is not None
    _require_jurisdiction(db_session, officer, actor, citizen, "citizen.read")
    account = get_account_of(db_session=reads, citizen_id=citizen.id)
    record_officer_act(db_session, officer, actor, "citizen.read", citizen.id)
    db_session.commit()
    return citizen, account
