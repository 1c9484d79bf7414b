"""citizens in partitions by province of birth

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-07 14:00:00

On PostgreSQL ``citizens`` becomes a table partitioned by range of ``id``, eight partitions of
consecutive provinces of birth (:mod:`identity.registry.partitions`): new citizens' ids carry
the first three digits of their personal id. A registry that holds rows is not copied: its
table is renamed ``citizens_legacy`` and attached, as it stood, as the partition of the ids
below 10**12 (the ones a sequence gave), and a trigger keeps a personal id it holds from being
written again under a new id. An empty registry has no legacy partition. The foreign keys of
the tables that name a citizen are made again against the partitioned table. SQLite keeps one
table.

The upgrade reads a legacy table twice (to check its ids fall in its range, and the table's new
check) and attaches its indexes as they are; it copies no row.
"""
from contextlib import contextmanager

from alembic import op
import sqlalchemy as sa


revision = '0018'
down_revision = '0017'
branch_labels = None
depends_on = None

#: The partitions: ranges ``[first, end)`` of the province codes of Circular 07/2016 that begin
#: every personal id, eight ranges of about eight of the 63 codes each, north to south; no
#: default partition (an id of no partition is refused; a personal id that begins with another
#: code is refused before, by its validation). Written here, not read from the code: a
#: migration does not depend on code written after it.
RANGES = ((1, 14), (14, 26), (26, 37), (37, 49), (49, 64), (64, 77), (77, 89), (89, 100))
NEW_IDS = 10**12
SPAN = 10**9

INDEXES = {"ix_citizens_household_id": "household_id", "ix_citizens_phone_hash": "phone_hash",
           "ix_citizens_province_commune": "province_code, commune_code"}

#: An id of a new citizen tells the first three digits of their personal id (the partition's
#: unique index on personal_id is then unique across the table); legacy ids tell nothing.
ID_PROVINCE = (f"CHECK (id < {NEW_IDS} OR (id < {2 * NEW_IDS} AND "
               f"lpad((id / {SPAN} - {NEW_IDS // SPAN})::text, 3, '0') "
               f"= substr(personal_id, 1, 3)))")

LEGACY_GUARD = f"""
CREATE FUNCTION citizens_legacy_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.id < {NEW_IDS} THEN
        RAISE EXCEPTION 'citizens: the legacy ids take no new row'
            USING ERRCODE = 'check_violation';
    END IF;
    IF EXISTS (SELECT 1 FROM citizens_legacy WHERE personal_id = NEW.personal_id) THEN
        RAISE EXCEPTION 'citizens: the personal id is held by a legacy row'
            USING ERRCODE = 'unique_violation';
    END IF;
    RETURN NEW;
END $$
"""


@contextmanager
def _postgresql_without_foreign_keys():
    """On PostgreSQL, the foreign keys that reference ``citizens`` dropped, then made again
    against the ``citizens`` there is after the block; elsewhere, nothing (and the block is
    skipped: ``yield False``)."""
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        yield False
        return
    foreign_keys = bind.execute(sa.text(
        "SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid) FROM pg_constraint "
        "WHERE confrelid = 'citizens'::regclass AND contype = 'f' ORDER BY 1, 2")).all()
    for table, name, _ in foreign_keys:
        op.execute(f"ALTER TABLE {table} DROP CONSTRAINT {name}")
    yield True
    for table, name, definition in foreign_keys:
        op.execute(f"ALTER TABLE {table} ADD CONSTRAINT {name} {definition}")


def upgrade():
    with _postgresql_without_foreign_keys() as postgresql:
        if postgresql:
            _partition(op.get_bind())


def _partition(bind):
    for statement in (
            "ALTER TABLE citizens RENAME TO citizens_legacy",
            # Index names are the schema's: the partitioned table takes the old ones.
            "ALTER INDEX pk_citizens RENAME TO citizens_legacy_pkey",
            "ALTER INDEX uq_citizens_personal_id RENAME TO citizens_legacy_personal_id_key",
            *(f"ALTER INDEX {name} RENAME TO citizens_legacy_{column.split(',')[0]}_idx"
              for name, column in INDEXES.items()),
            "CREATE TABLE citizens (LIKE citizens_legacy INCLUDING DEFAULTS "
            "INCLUDING CONSTRAINTS) PARTITION BY RANGE (id)",
            # New ids are given by the code (identity.registry.partitions), never a sequence.
            "ALTER TABLE citizens ALTER COLUMN id DROP DEFAULT",
            "ALTER TABLE citizens ADD CONSTRAINT pk_citizens PRIMARY KEY (id)",
            f"ALTER TABLE citizens ADD CONSTRAINT ck_citizens_id_province {ID_PROVINCE}",
            *(f"CREATE INDEX {name} ON citizens ({columns})" for name, columns in INDEXES.items())):
        op.execute(statement)
    for first, end in RANGES:
        name = f"citizens_p{first:03d}_{end - 1:03d}"
        op.execute(f"CREATE TABLE {name} PARTITION OF citizens FOR VALUES "
                   f"FROM ({NEW_IDS + first * SPAN}) TO ({NEW_IDS + end * SPAN})")
        op.execute(f"CREATE UNIQUE INDEX {name}_personal_id_key ON {name} (personal_id)")
    # Rows of new ids in the old table (written by this revision's code, then downgraded) go
    # to their province's partition.
    op.execute(f"INSERT INTO citizens SELECT * FROM citizens_legacy WHERE id >= {NEW_IDS}")
    op.execute(f"DELETE FROM citizens_legacy WHERE id >= {NEW_IDS}")
    if bind.scalar(sa.text("SELECT EXISTS (SELECT 1 FROM citizens_legacy)")):
        # A partition has its table's checks; the one of its bounds spares the attach a scan.
        for statement in (
                f"ALTER TABLE citizens_legacy ADD CONSTRAINT citizens_legacy_ids "
                f"CHECK (id < {NEW_IDS})",
                f"ALTER TABLE citizens_legacy ADD CONSTRAINT ck_citizens_id_province {ID_PROVINCE}",
                f"ALTER TABLE citizens ATTACH PARTITION citizens_legacy "
                f"FOR VALUES FROM (MINVALUE) TO ({NEW_IDS})",
                "ALTER TABLE citizens_legacy DROP CONSTRAINT citizens_legacy_ids"):
            op.execute(statement)
        op.execute(LEGACY_GUARD)
        op.execute("CREATE TRIGGER citizens_legacy_guard BEFORE INSERT ON citizens "
                   "FOR EACH ROW EXECUTE FUNCTION citizens_legacy_guard()")
    else:
        op.execute("DROP TABLE citizens_legacy")


def downgrade():
    with _postgresql_without_foreign_keys() as postgresql:
        if postgresql:
            _flatten(op.get_bind())


def _flatten(bind):
    start = bind.scalar(sa.text(f"SELECT coalesce(max(id), 0) + 1 FROM citizens "
                                f"WHERE id < {NEW_IDS}"))
    for statement in (
            "CREATE TABLE citizens_flat (LIKE citizens INCLUDING DEFAULTS "
            "INCLUDING CONSTRAINTS)",
            "ALTER TABLE citizens_flat DROP CONSTRAINT ck_citizens_id_province",
            "INSERT INTO citizens_flat SELECT * FROM citizens",
            "DROP TABLE citizens",
            "DROP FUNCTION IF EXISTS citizens_legacy_guard()",
            "ALTER TABLE citizens_flat RENAME TO citizens",
            "ALTER TABLE citizens ADD CONSTRAINT pk_citizens PRIMARY KEY (id)",
            "ALTER TABLE citizens ADD CONSTRAINT uq_citizens_personal_id UNIQUE (personal_id)",
            *(f"CREATE INDEX {name} ON citizens ({columns})" for name, columns in INDEXES.items()),
            # A legacy table took its sequence with it: ids go on from the highest legacy one.
            f"CREATE SEQUENCE IF NOT EXISTS citizens_id_seq OWNED BY citizens.id START {start}",
            "ALTER TABLE citizens ALTER COLUMN id SET DEFAULT nextval('citizens_id_seq')"):
        op.execute(statement)
