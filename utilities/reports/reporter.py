"""The reporter of a case, and what every act on the case writes about them.

Anonymity at rest: a named report keeps its reporter sealed
(:func:`seal_reporter`); an anonymous one keeps nothing the service's keys
can open. Filing it hands the reporter's app a reporter key
(:func:`new_reporter_key`) that the service never stores: the case's
``reporter_hash`` is a keyed hash of the account id *and* that key, so only
the app that holds it (with the account's token) reaches the case again
(``X-Reporter-Key``). No notification row is left for an anonymous case
(:func:`notify_reporter`): the app polls its cases. Every row of an anonymous
case keeps its time to the hour only (:func:`case_time`, :func:`touch`,
:func:`recorded`, with :func:`identity.audit.service.coarse_time`), and its
audit events are unlinkable ones (:func:`audit`: no account, address or
request id, a chain of their own). A named reporter is shown only to the
assigned officer and to supervisors, and each view is audited with the
reporter as subject (their access log shows it).
``tests/security/test_anonymity.py`` dumps every table and joins both sides.

What this does not hide: a case's own rows (the report, its history, its
evidence) take ids from sequences, so on a quiet service the order of ids
says which acts came one after another (the audit log's unlinkable events
are out of the sequence); a photo sent both with a named and an anonymous
report is one stored file (content-addressed) with one digest.

Helpers of the use cases: none of them commits.
"""
from __future__ import annotations

import datetime as dt
import secrets
from typing import Any

from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import flag_modified

from identity import clock
from identity.accounts.account import citizen_actor
from identity.accounts.models import Account
from identity.accounts.notifications import notify
from identity.audit.service import Actor, coarse_time, record_event
from identity.protection import Protector
from utilities.reports.errors import ReporterAnonymous
from utilities.reports.models import Report
from utilities.workflow import WorkflowEvent

_REPORTER_CONTEXT = b"report/reporter/"
_REPORTER_PURPOSE = b"report-reporter"
_ANONYMOUS_PURPOSE = b"report-anonymous-reporter"
#: Random bytes of a reporter key (URL-safe base64 in the answer: 43 characters).
REPORTER_KEY_BYTES = 32


# --- Finding and opening the reporter ---------------------------------------------------------

def reporter_hash(protector: Protector, account_id: int) -> bytes:
    """The keyed hash that finds an account's own reports."""
    return protector.lookup_hash(str(account_id), purpose=_REPORTER_PURPOSE)


def new_reporter_key() -> str:
    """A fresh reporter key for an anonymous filing (given once, never stored)."""
    return secrets.token_urlsafe(REPORTER_KEY_BYTES)


def anonymous_reporter_hash(protector: Protector, account_id: int, reporter_key: str) -> bytes:
    """The hash that finds an anonymous case: of the account id and the reporter's key."""
    return protector.lookup_hash(f"{account_id}:{reporter_key}", purpose=_ANONYMOUS_PURPOSE)


def seal_reporter(protector: Protector, case_number: str, account: Account) -> bytes:
    """A named reporter's account and citizen ids, encrypted to this case number only."""
    return protector.encrypt(f"{account.id}:{account.citizen_id}",
                             context=_REPORTER_CONTEXT + case_number.encode())


def reporter_of(protector: Protector, report: Report) -> tuple[int, int]:
    """A named reporter's (account id, citizen id): for notifications and audits, never shown."""
    if report.anonymous or report.reporter_encrypted is None:
        raise ReporterAnonymous()  # a bug if reached: nothing about an anonymous one is kept
    account_id, _, citizen_id = protector.decrypt(
        report.reporter_encrypted,
        context=_REPORTER_CONTEXT + report.case_number.encode()).partition(":")
    return int(account_id), int(citizen_id)


def reporter_actor(report: Report, account: Account, base: Actor) -> Actor:
    """The audit actor of the reporter: nobody (no account, address or request) if anonymous."""
    if report.anonymous:
        return Actor(type="reporter")
    return citizen_actor(account, base)


# --- Times of an anonymous case: to the hour --------------------------------------------------

def case_time(report: Report) -> dt.datetime:
    """The time to write in a row of the case: to the hour only when it is anonymous."""
    return coarse_time(clock.now()) if report.anonymous else clock.now()


def touch(report: Report) -> None:
    """Before an act on an anonymous case: its ``updated_at`` to the hour, written as such.

    Marked modified so the UPDATE carries it (else the column's ``onupdate``
    would write the exact time).
    """
    if report.anonymous:
        report.updated_at = case_time(report)
        flag_modified(report, "updated_at")


def recorded(report: Report, event: WorkflowEvent) -> WorkflowEvent:
    """A history row just recorded (not yet flushed): to the hour when the case is anonymous."""
    if report.anonymous:
        event.occurred_at = coarse_time(event.occurred_at)
    return event


# --- What an act writes about the reporter ----------------------------------------------------

def audit(db_session: Session, protector: Protector, actor: Actor, report: Report, action: str,
          **details: Any) -> None:
    """Audit an act on a case: about the reporter when named, about the case when anonymous.

    A named reporter is the subject, so the act shows in their access log. An
    anonymous case is its own subject: an audit row naming its reporter would
    be a record of who filed it.
    """
    details = {"case_number": report.case_number, **details}
    if report.anonymous:
        record_event(db_session=db_session, actor=actor, action=action, subject_type="report",
                     subject_id=report.id, details=details, unlinkable=True)
    else:
        _account_id, citizen_id = reporter_of(protector, report)
        record_event(db_session=db_session, actor=actor, action=action, subject_type="citizen",
                     subject_id=citizen_id, details=details)


def notify_reporter(db_session: Session, protector: Protector, report: Report, kind: str,
                    text: str) -> None:
    """A notification for a named reporter; none for an anonymous one (their app polls)."""
    if report.anonymous:
        return
    account_id, _citizen_id = reporter_of(protector, report)
    notify(db_session=db_session, account_id=account_id, kind=kind, text=text)
