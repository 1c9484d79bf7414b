"""audit log in monthly partitions

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-07 11:00:00

On PostgreSQL ``audit_events`` becomes a table partitioned by month of ``occurred_at``
(:mod:`identity.audit.partitions`). An existing log is not copied: its table is renamed
``audit_events_legacy`` and attached as the partition of everything before the first of next
month, so the upgrade costs the new keys' index builds, not a rewrite. Its id sequence passes to
the new table (dropping the legacy table later, once detached, must not take the sequence with
it). SQLite keeps one table; both get ``audit_detached_runs`` and the unique key with the month.
"""
import datetime as dt

from alembic import op
import sqlalchemy as sa

import identity.database


revision = '0017'
down_revision = '0016'
branch_labels = None
depends_on = None

#: SQLite's guards (migration 0001): its batch mode rebuilds the table, and drops them with it.
SQLITE_TRIGGERS = [
    """CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events
       BEGIN SELECT RAISE(ABORT, 'audit_events is append-only'); END""",
    """CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events
       BEGIN SELECT RAISE(ABORT, 'audit_events is append-only'); END""",
]

TRIGGER = ("CREATE TRIGGER audit_events_append_only BEFORE UPDATE OR DELETE ON audit_events "
           "FOR EACH ROW EXECUTE FUNCTION audit_events_append_only()")


#: Months made after the legacy partition's (the daily job ``audit.partitions`` keeps this many
#: ahead from then on). The migration makes them with its own statements: a migration does not
#: call code that may change after it was written.
MONTHS_AHEAD = 3


def _month_after(month):
    return (month + dt.timedelta(days=32)).replace(day=1)


def _sqlite_unique_key(columns):
    with op.batch_alter_table('audit_events', schema=None) as batch_op:
        batch_op.drop_constraint('uq_audit_events_shard_seq', type_='unique')
        batch_op.create_unique_constraint('uq_audit_events_shard_seq', columns)
    for statement in SQLITE_TRIGGERS:
        op.execute(statement)


def upgrade():
    op.create_table('audit_detached_runs',
    sa.Column('partition_name', sa.String(length=63), nullable=False),
    sa.Column('shard', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('first_seq', sa.BigInteger(), autoincrement=False, nullable=False),
    sa.Column('last_seq', sa.BigInteger(), nullable=False),
    sa.Column('first_prev_hash', sa.LargeBinary(length=32), nullable=False),
    sa.Column('last_hash', sa.LargeBinary(length=32), nullable=False),
    sa.Column('detached_at', identity.database.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('partition_name', 'shard', 'first_seq',
                            name=op.f('pk_audit_detached_runs'))
    )
    if op.get_bind().dialect.name != "postgresql":
        _sqlite_unique_key(['shard', 'seq', 'occurred_at'])
        return
    now = dt.datetime.now(dt.timezone.utc)
    legacy_end = _month_after(dt.datetime(now.year, now.month, 1, tzinfo=dt.timezone.utc))
    for statement in (
            "ALTER TABLE audit_events RENAME TO audit_events_legacy",
            # A partition takes the log's keys (built at the attach below), not keys of its own.
            "ALTER TABLE audit_events_legacy DROP CONSTRAINT pk_audit_events",
            "ALTER TABLE audit_events_legacy DROP CONSTRAINT uq_audit_events_shard_seq",
            "ALTER INDEX ix_audit_events_subject RENAME TO audit_events_legacy_subject_idx",
            "DROP TRIGGER audit_events_append_only ON audit_events_legacy",
            "CREATE TABLE audit_events (LIKE audit_events_legacy INCLUDING DEFAULTS "
            "INCLUDING CONSTRAINTS) PARTITION BY RANGE (occurred_at)",
            "ALTER SEQUENCE audit_events_id_seq OWNED BY audit_events.id",
            "ALTER TABLE audit_events ADD CONSTRAINT pk_audit_events "
            "PRIMARY KEY (id, occurred_at)",
            "ALTER TABLE audit_events ADD CONSTRAINT uq_audit_events_shard_seq "
            "UNIQUE (shard, seq, occurred_at)",
            "CREATE INDEX ix_audit_events_subject ON audit_events "
            "(subject_type, subject_id, occurred_at)",
            f"ALTER TABLE audit_events ATTACH PARTITION audit_events_legacy "
            f"FOR VALUES FROM (MINVALUE) TO ('{legacy_end.isoformat()}')",
            "CREATE TABLE audit_events_default PARTITION OF audit_events DEFAULT",
            TRIGGER):
        op.execute(statement)
    month = legacy_end
    for _ in range(MONTHS_AHEAD):
        following = _month_after(month)
        op.execute(f"CREATE TABLE audit_events_y{month:%Y}m{month:%m} PARTITION OF audit_events "
                   f"FOR VALUES FROM ('{month.isoformat()}') TO ('{following.isoformat()}')")
        month = following


def downgrade():
    bind = op.get_bind()
    if bind.scalar(sa.text("SELECT count(*) FROM audit_detached_runs")):
        raise RuntimeError("months of the audit log were detached: attach them again (and "
                           "empty audit_detached_runs) before going below revision 0017")
    op.drop_table('audit_detached_runs')
    if bind.dialect.name != "postgresql":
        _sqlite_unique_key(['shard', 'seq'])
        return
    for statement in (
            "CREATE TABLE audit_events_flat (LIKE audit_events INCLUDING DEFAULTS "
            "INCLUDING CONSTRAINTS)",
            "INSERT INTO audit_events_flat SELECT * FROM audit_events",
            "ALTER SEQUENCE audit_events_id_seq OWNED BY audit_events_flat.id",
            "DROP TABLE audit_events",
            "ALTER TABLE audit_events_flat RENAME TO audit_events",
            "ALTER TABLE audit_events ADD CONSTRAINT pk_audit_events PRIMARY KEY (id)",
            "ALTER TABLE audit_events ADD CONSTRAINT uq_audit_events_shard_seq "
            "UNIQUE (shard, seq)",
            "CREATE INDEX ix_audit_events_subject ON audit_events "
            "(subject_type, subject_id, occurred_at)",
            TRIGGER):
        op.execute(statement)
