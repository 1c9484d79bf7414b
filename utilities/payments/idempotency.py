"""Idempotency keys: the same request sent twice gives the first answer (after Stripe's).

A paying request carries an ``Idempotency-Key`` header chosen by the client
(a UUID, say), one per intended payment. The key belongs to the account, and
its row (:class:`~utilities.payments.models.IdempotencyKey`) is inserted
*first* and committed before the work starts (with nothing but authentication's
reads before it), with a unique constraint on ``(account, key)``:

- the insert wins: the request runs, and its answer (status and body,
  including 4xx errors) is stored with the key: :func:`finish`;
- the row exists, done, with the same fingerprint: the stored answer is given
  back, byte for byte, without running anything;
- the row exists with another fingerprint (another body, path or method):
  422 ``idempotency.key_reused``;
- the row exists and its request is still running: 409
  ``idempotency.in_progress``. A request that crashed holding its key is
  taken over after :data:`TAKEOVER_AFTER` (the payment rules below the key
  still allow at most one payment per order).

The fingerprint is a *keyed* hash (the protector's lookup hash) of the method,
the path and the canonical JSON body: the body holds the passcode, which an
unkeyed hash of six digits would give away.

Not stored: answers of 5xx (the outcome was not decided; retry with the same
key), and requests refused before they ran (no token: 401; malformed body:
400/422), which changed nothing.
"""
from __future__ import annotations

import datetime as dt
import json
import re
from dataclasses import dataclass
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import Session

from identity import clock
from identity.database import Statement, commit_keeping_state
from identity.protection import Protector
from utilities.payments.errors import (IdempotencyInProgress, IdempotencyKeyMissing,
                                       IdempotencyKeyReused)
from utilities.payments.models import IdempotencyKey

IN_PROGRESS, DONE = "in_progress", "done"
#: A request holding its key longer than this is taken as crashed.
TAKEOVER_AFTER = dt.timedelta(seconds=120)
#: How long answers are kept (then the key may be used again).
KEEP_FOR = dt.timedelta(hours=24)
KEY_RE = re.compile(r"[\x21-\x7e]{1,255}")
_KEYS = cast(sa.Table, IdempotencyKey.__table__)
#: The claim: a new row, or nothing back when the account used the key before.
_CLAIM = Statement(
    postgresql.insert(_KEYS).values(
        account_id=sa.bindparam("account_id"), key=sa.bindparam("key"),
        fingerprint=sa.bindparam("fingerprint"), state=sa.bindparam("state"),
        created_at=sa.bindparam("now"), locked_at=sa.bindparam("now"))
    .on_conflict_do_nothing(index_elements=["account_id", "key"]).returning(_KEYS.c.id))


def answer_sql(condition: str = "") -> str:
    """A CTE ``kept`` of a PostgreSQL statement: the answer stored with the claimed key (the
    body as JSON text), when ``condition`` (more of the ``WHERE``) holds. Its parameters:
    :func:`answer_params`. A use case whose last statement writes its answer this way saves
    the commit of its own (:class:`Claim`)."""
    return f"""kept AS (
    UPDATE idempotency_keys SET state = :key_done, response_status = :key_status,
        response_body = CAST(:key_body AS json)
    WHERE account_id = :key_account_id AND key = :key AND state = :key_state{condition}
    RETURNING id)"""


#: The answer kept with its key, alone (:func:`finish`).
_ANSWER = Statement(sa.text(f"WITH {answer_sql()} SELECT count(*) FROM kept"))


@dataclass
class Claim:
    """The key the running request holds (:func:`begin` said go ahead).

    A use case that can write the request's answer with its own last statement does so
    (:func:`answer_sql`, :func:`answer_params`) and sets ``answered``: :func:`finish` then writes
    nothing. The answer must be the one the request gives; the caller sees to it.
    """

    account_id: int
    key: str
    answered: bool = False


def answer_params(claim: Claim, *, status: int, body: Any) -> dict[str, Any]:
    """The parameters of :func:`answer_sql` for ``claim``'s answer."""
    return {"key_account_id": claim.account_id, "key": claim.key, "key_state": IN_PROGRESS,
            "key_done": DONE, "key_status": status, "key_body": json.dumps(body)}


@dataclass(frozen=True)
class StoredAnswer:
    """The first answer given to a key."""

    status: int
    body: Any


def check_key(key: str | None) -> str:
    """The key, or 400 ``idempotency.key_missing`` when absent or not 1-255 printable ASCII."""
    if key is None or not KEY_RE.fullmatch(key):
        raise IdempotencyKeyMissing()
    return key


def fingerprint(protector: Protector, *, method: str, path: str, body: Any) -> str:
    """A keyed hash of the method, path and canonical JSON body."""
    canonical = json.dumps([method.upper(), path, body], sort_keys=True,
                           separators=(",", ":"), ensure_ascii=False)
    return protector.lookup_hash(canonical, purpose=b"idempotency").hex()


def begin(db_session: Session, *, account_id: int, key: str,
          request_fingerprint: str) -> StoredAnswer | None:
    """Claim ``key`` for this request (``None``: go ahead), or the stored answer to give back.

    Commits: the claim is visible to concurrent requests before the work starts.
    The claim is written in the transaction authentication read in (it read, wrote
    nothing), and the commit keeps what authentication loaded (the account) as it was read
    in this request, so the work does not read it again; the use case re-reads under its
    lock what it must (the passcode counter, the order).
    """
    key = check_key(key)
    now = clock.now()
    claimed = _CLAIM.first(db_session, {"account_id": account_id, "key": key,
                                        "fingerprint": request_fingerprint,
                                        "state": IN_PROGRESS, "now": now})
    if claimed is not None:
        commit_keeping_state(db_session)
        return None
    row = db_session.execute(
        sa.select(IdempotencyKey.id, IdempotencyKey.fingerprint, IdempotencyKey.state,
                  IdempotencyKey.response_status, IdempotencyKey.response_body,
                  IdempotencyKey.locked_at)
        .where(IdempotencyKey.account_id == account_id, IdempotencyKey.key == key)).one()
    if row.fingerprint != request_fingerprint:
        db_session.commit()
        raise IdempotencyKeyReused()
    if row.state == DONE:
        db_session.commit()
        return StoredAnswer(status=int(row.response_status), body=row.response_body)
    if row.locked_at < now - TAKEOVER_AFTER:
        taken = db_session.execute(
            sa.update(IdempotencyKey).where(IdempotencyKey.id == row.id,
                                            IdempotencyKey.state == IN_PROGRESS,
                                            IdempotencyKey.locked_at == row.locked_at)
            .values(locked_at=now).execution_options(synchronize_session=False))
        db_session.commit()
        if taken.rowcount == 1:  # type: ignore[attr-defined]
            return None
    db_session.commit()
    raise IdempotencyInProgress()


def finish(db_session: Session, claim: Claim, *, status: int, body: Any) -> None:
    """Store the answer of the request holding ``claim`` (a 5xx releases the key instead);
    nothing when the use case stored it already (``claim.answered``)."""
    if claim.answered:
        return
    db_session.rollback()  # whatever the request left unfinished is not ours to commit
    if status < 500 and db_session.get_bind().dialect.name == "postgresql":
        _ANSWER.rows(db_session, answer_params(claim, status=status, body=body),
                     alone=True)  # committed on its own, or in the session's transaction:
        if db_session.in_transaction():
            db_session.commit()
        return
    where = (IdempotencyKey.account_id == claim.account_id, IdempotencyKey.key == claim.key,
             IdempotencyKey.state == IN_PROGRESS)
    if status >= 500:
        db_session.execute(sa.delete(IdempotencyKey).where(*where)
                           .execution_options(synchronize_session=False))
    else:
        db_session.execute(sa.update(IdempotencyKey).where(*where)
                           .values(state=DONE, response_status=status, response_body=body)
                           .execution_options(synchronize_session=False))
    db_session.commit()


def correct_answer(db_session: Session, claim: Claim, status: int, body: Any) -> None:
    """Replace the answer stored with ``claim``'s key by this one (PostgreSQL, committed
    alone): for a use case that stored its answer and then found it other than the request's."""
    _ANSWER.rows(db_session, {**answer_params(claim, status=status, body=body),
                              "key_state": DONE}, alone=True)


def purge(db_session: Session, *, older_than: dt.timedelta = KEEP_FOR) -> int:
    """Delete answered keys older than ``older_than``; how many (a periodic job)."""
    deleted = db_session.execute(
        sa.delete(IdempotencyKey).where(IdempotencyKey.state == DONE,
                                        IdempotencyKey.created_at < clock.now() - older_than)
        .execution_options(synchronize_session=False))
    db_session.commit()
    return int(deleted.rowcount)  # type: ignore[attr-defined]
