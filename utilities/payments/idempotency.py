"""Idempotency keys: the same request sent twice gives the first answer (after Stripe's).

A paying request carries an ``Idempotency-Key`` header chosen by the client
(a UUID, say), one per intended payment. The key belongs to the account, and
its row (:class:`~utilities.payments.models.IdempotencyKey`) is inserted
*first*, with nothing but authentication's reads before it, in the transaction
the work goes on in, with a unique constraint on ``(account, key)``. It is
committed with the work's first commit (a payment's: the attempt), not on its
own: a concurrent request with the same key waits on the unique index until
then, and then finds it. So:

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

A request refused before the work committed anything (the order is not the
citizen's, or paid) has its claim rolled back with the work: :func:`finish`
then writes the key's row with its answer in one statement, unless another
request with the key wrote one meanwhile, which stands.

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
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from identity import clock
from identity.database import Statement
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


#: The answer kept with its key, alone (:func:`correct_answer`).
_ANSWER = Statement(sa.text(f"WITH {answer_sql()} SELECT count(*) FROM kept"))
#: The answer kept with its key (:func:`finish`); when the claim was rolled back with the work
#: (no row of the key), the key's row written done with it, unless another request with the
#: key wrote one meanwhile (nothing written: that one stands).
_FINISH = Statement(sa.text(f"""
WITH {answer_sql()},
added AS (
    INSERT INTO idempotency_keys (account_id, key, fingerprint, state, response_status,
                                  response_body, created_at, locked_at)
    SELECT :key_account_id, :key, :key_fingerprint, :key_done, :key_status,
           CAST(:key_body AS json), :key_now, :key_now
    WHERE NOT EXISTS (SELECT FROM kept)
    ON CONFLICT (account_id, key) DO NOTHING)
SELECT count(*) FROM kept"""))


@dataclass
class Claim:
    """The key the running request holds (:func:`begin` said go ahead).

    A use case that can write the request's answer with its own last statement does so
    (:func:`answer_sql`, :func:`answer_params`) and sets ``answer`` to it: :func:`finish` then
    writes nothing, and the request gives that answer. The answer must be the one the request
    gives; the use case sees to it.
    """

    account_id: int
    key: str
    fingerprint: str = ""
    answer: tuple[int, Any] | None = None

    @property
    def answered(self) -> bool:
        """Whether the use case stored the request's answer (``answer``)."""
        return self.answer is not None


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

    The claim is written in the transaction authentication read in (it read, wrote
    nothing) and left uncommitted: the work goes on in that transaction and commits the
    claim with its own first commit (one commit less than a claim of its own; a concurrent
    request with the key waits for it on the unique index). What authentication loaded (the
    account) stays as it was read in this request, so the work does not read it again; the
    use case re-reads under its lock what it must (the passcode counter, the order).
    """
    key = check_key(key)
    now = clock.now()
    claimed = _CLAIM.first(db_session, {"account_id": account_id, "key": key,
                                        "fingerprint": request_fingerprint,
                                        "state": IN_PROGRESS, "now": now})
    if claimed is not None:
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
    nothing when the use case stored it already (``claim.answered``). The claim may have
    been rolled back with the work (it committed nothing): the key's row is then written
    with the answer, unless another request with the key wrote one meanwhile."""
    if claim.answered:
        return
    db_session.rollback()  # whatever the request left unfinished is not ours to commit
    if status < 500 and db_session.get_bind().dialect.name == "postgresql":
        _FINISH.rows(db_session, {**answer_params(claim, status=status, body=body),
                                  "key_fingerprint": claim.fingerprint, "key_now": clock.now()},
                     alone=True)  # committed on its own, or in the session's transaction:
        if db_session.in_transaction():
            db_session.commit()
        return
    where = (IdempotencyKey.account_id == claim.account_id, IdempotencyKey.key == claim.key,
             IdempotencyKey.state == IN_PROGRESS)
    if status >= 500:
        db_session.execute(sa.delete(IdempotencyKey).where(*where)
                           .execution_options(synchronize_session=False))
        db_session.commit()
        return
    kept = db_session.execute(sa.update(IdempotencyKey).where(*where)
                              .values(state=DONE, response_status=status, response_body=body)
                              .execution_options(synchronize_session=False))
    if kept.rowcount == 0:  # type: ignore[attr-defined]
        now = clock.now()
        db_session.add(IdempotencyKey(account_id=claim.account_id, key=claim.key,
                                      fingerprint=claim.fingerprint, state=DONE,
                                      response_status=status, response_body=body,
                                      created_at=now, locked_at=now))
    try:
        db_session.commit()
    except IntegrityError:  # another request with the key wrote its row meanwhile: it stands
        db_session.rollback()


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
