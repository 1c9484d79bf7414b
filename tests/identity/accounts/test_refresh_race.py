"""Refresh-token rotation on a database whose commits are real: a reuse is caught, races too.

On PostgreSQL a refresh on a session of its own runs its one statement in
autocommit (``sessions.refresh_session``); the other tests' sessions sit on
the shared rolled-back transaction and never take that way: these do
(``own_database_app``). A race of one token, all released at once by a
barrier, is 20 wide on PostgreSQL and 6 on SQLite (which serialises writers).
"""
from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from app.extensions import db, get_protector
from identity.accounts import sessions
from identity.accounts.errors import InvalidToken
from identity.accounts.models import Account, SessionFamily
from identity.audit.models import AuditEvent
from identity.audit.service import Actor
from tests.factories import add_active_account
from tests.flows import at_once

ACTOR = Actor(type="test", id="refresh-race")
ON_POSTGRES = (os.environ.get("DATABASE_URL") or "").startswith("postgres")
WIDTH = 20 if ON_POSTGRES else 6


def _family(app: Any) -> tuple[str, int]:
    """A session family of an active account, committed: its id, and the account's."""
    with app.app_context(), Session(db.engine, expire_on_commit=False) as session:
        account = add_active_account(session, get_protector())
        family = sessions.start_session(session, account=account, device_id="device-race")
        session.commit()
        return family.id, account.id


def _refresh(app: Any, session_id: str, generation: int) -> sessions.Grant:
    with app.app_context(), Session(db.engine) as own:
        return sessions.refresh_session(db_session=own, actor=ACTOR, session_id=session_id,
                                        generation=generation)


def _state(app: Any, session_id: str, account_id: int) -> tuple[Any, int, int]:
    """The family's revocation reason, the account's token version, the reuse events."""
    with app.app_context(), Session(db.engine) as session:
        reason = session.scalar(sa.select(SessionFamily.revoke_reason)
                                .where(SessionFamily.id == session_id))
        version = session.scalar(sa.select(Account.token_version)
                                 .where(Account.id == account_id))
        events = session.scalar(sa.select(sa.func.count()).select_from(AuditEvent).where(
            AuditEvent.action == "auth.refresh_reuse", AuditEvent.subject_id == session_id))
        return reason, int(version or 0), int(events or 0)


def test_a_refresh_rotates_and_an_older_token_revokes_the_family(own_database_app):
    app = own_database_app
    session_id, account_id = _family(app)
    _reason, version, _events = _state(app, session_id, account_id)
    grant = _refresh(app, session_id, 1)
    assert (grant.generation, grant.token_version, grant.session_id) == (2, version, session_id)
    assert _refresh(app, session_id, 2).generation == 3  # committed: the next one moves on
    with pytest.raises(InvalidToken):
        _refresh(app, session_id, 1)
    assert _state(app, session_id, account_id) == ("reuse", version + 1, 1)
    with pytest.raises(InvalidToken):  # the newest token ends with its family
        _refresh(app, session_id, 3)
    assert _state(app, session_id, account_id) == ("reuse", version + 1, 1)


def test_of_one_token_presented_at_once_a_single_refresh_wins_and_the_rest_revoke(
        own_database_app):
    app = own_database_app
    session_id, account_id = _family(app)
    _reason, version, _events = _state(app, session_id, account_id)

    def attempt(go: Callable[[], object]) -> Any:
        with app.app_context(), Session(db.engine) as own:
            go()
            return sessions.refresh_session(db_session=own, actor=ACTOR,
                                            session_id=session_id, generation=1)

    outcomes = at_once(*(attempt for _ in range(WIDTH)), timeout=120)
    grants = [o for o in outcomes if isinstance(o, sessions.Grant)]
    assert [grant.generation for grant in grants] == [2]
    assert all(isinstance(o, InvalidToken) for o in outcomes if o not in grants), outcomes
    # The losers saw the generation moved: a reuse, recorded once, the holder's tokens ended.
    assert _state(app, session_id, account_id) == ("reuse", version + 1, 1)


@pytest.mark.skipif(not ON_POSTGRES, reason="SQLite takes the session's way (BEGIN IMMEDIATE)")
def test_a_refresh_sends_one_statement_in_autocommit_and_leaves_its_session_out(
        own_database_app):
    app = own_database_app
    session_id, _account_id = _family(app)
    seen: list[tuple[str, bool]] = []

    def statement(conn: Any, _cursor: Any, text: str, *_args: Any) -> None:
        seen.append((text.split()[0], bool(conn.connection.dbapi_connection.autocommit)))

    def session_begins(*_args: Any) -> None:
        seen.append(("a session's transaction begins", False))

    with app.app_context(), Session(db.engine) as own:
        sa.event.listen(db.engine, "before_cursor_execute", statement)
        sa.event.listen(own, "after_begin", session_begins)
        try:
            grant = sessions.refresh_session(db_session=own, actor=ACTOR,
                                             session_id=session_id, generation=1)
        finally:
            sa.event.remove(db.engine, "before_cursor_execute", statement)
        assert grant.generation == 2
        # The rotation, committed on its own (no BEGIN), and no transaction of the session.
        assert seen == [("UPDATE", True)]
        # The connection went back to the pool in a transaction's mode, not in autocommit.
        with db.engine.connect() as connection:
            assert not connection.connection.dbapi_connection.autocommit
