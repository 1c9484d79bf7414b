"""Population registry and the hash-chained audit log.

The audit tables are append-only: a trigger refuses UPDATE and DELETE on
audit_events, on PostgreSQL and SQLite alike. The first shards of the chain
are created here, each starting from its genesis hash.

Revision ID: 0001
Revises: 
Create Date: 2026-11-27 08:31:32.509469

"""
import hashlib

import sqlalchemy as sa
from alembic import op

import identity.database


# revision identifiers, used by Alembic.
revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


SHARDS = 32

PG_APPEND_ONLY = """
CREATE FUNCTION audit_events_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'audit_events is append-only';
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER audit_events_append_only BEFORE UPDATE OR DELETE ON audit_events
    FOR EACH ROW EXECUTE FUNCTION audit_events_append_only();
"""

SQLITE_APPEND_ONLY = [
    """CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events
       BEGIN SELECT RAISE(ABORT, 'audit_events is append-only'); END""",
    """CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events
       BEGIN SELECT RAISE(ABORT, 'audit_events is append-only'); END""",
]


def upgrade():
    op.create_table('audit_chain_heads',
    sa.Column('shard', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('seq', sa.BigInteger(), nullable=False),
    sa.Column('head_hash', sa.LargeBinary(length=32), nullable=False),
    sa.PrimaryKeyConstraint('shard', name=op.f('pk_audit_chain_heads'))
    )
    op.create_table('audit_events',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('shard', sa.Integer(), nullable=False),
    sa.Column('seq', sa.BigInteger(), nullable=False),
    sa.Column('occurred_at', identity.database.UTCDateTime(timezone=True), nullable=False),
    sa.Column('actor_type', sa.String(length=16), nullable=False),
    sa.Column('actor_id', sa.String(length=64), nullable=True),
    sa.Column('action', sa.String(length=64), nullable=False),
    sa.Column('subject_type', sa.String(length=32), nullable=True),
    sa.Column('subject_id', sa.String(length=64), nullable=True),
    sa.Column('source', sa.String(length=64), nullable=True),
    sa.Column('request_id', sa.String(length=64), nullable=True),
    sa.Column('details', sa.JSON(), nullable=False),
    sa.Column('prev_hash', sa.LargeBinary(length=32), nullable=False),
    sa.Column('hash', sa.LargeBinary(length=32), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_events')),
    sa.UniqueConstraint('shard', 'seq', name='uq_audit_events_shard_seq')
    )
    with op.batch_alter_table('audit_events', schema=None) as batch_op:
        batch_op.create_index('ix_audit_events_subject', ['subject_type', 'subject_id', 'occurred_at'], unique=False)

    op.create_table('registry_import_runs',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('file_name', sa.String(length=255), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('started_at', identity.database.UTCDateTime(timezone=True), nullable=False),
    sa.Column('finished_at', identity.database.UTCDateTime(timezone=True), nullable=True),
    sa.Column('file_sha256', sa.String(length=64), nullable=True),
    sa.Column('rows_read', sa.Integer(), nullable=False),
    sa.Column('rows_imported', sa.Integer(), nullable=False),
    sa.Column('rows_rejected', sa.Integer(), nullable=False),
    sa.Column('batches_committed', sa.Integer(), nullable=False),
    sa.Column('report_path', sa.String(length=1024), nullable=True),
    sa.Column('error', sa.String(length=1024), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_registry_import_runs'))
    )
    op.create_table('citizens',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('personal_id', sa.String(length=12), nullable=False),
    sa.Column('full_name', sa.String(length=100), nullable=False),
    sa.Column('name_key', sa.String(length=100), nullable=False),
    sa.Column('date_of_birth', sa.Date(), nullable=False),
    sa.Column('gender', sa.String(length=1), nullable=False),
    sa.Column('nationality', sa.String(length=2), nullable=False),
    sa.Column('ethnicity', sa.String(length=50), nullable=False),
    sa.Column('place_of_origin', sa.String(length=255), nullable=False),
    sa.Column('province_code', sa.String(length=2), nullable=False),
    sa.Column('commune_code', sa.String(length=5), nullable=False),
    sa.Column('address', sa.String(length=255), nullable=False),
    sa.Column('phone_encrypted', sa.LargeBinary(), nullable=True),
    sa.Column('phone_hash', sa.LargeBinary(length=32), nullable=True),
    sa.Column('household_id', sa.String(length=32), nullable=True),
    sa.Column('relation_to_head', sa.String(length=16), nullable=True),
    sa.Column('import_run_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('created_at', identity.database.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', identity.database.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint("gender IN ('M', 'F')", name=op.f('ck_citizens_gender')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_citizens')),
    sa.UniqueConstraint('personal_id', name=op.f('uq_citizens_personal_id'))
    )
    with op.batch_alter_table('citizens', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_citizens_household_id'), ['household_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_citizens_phone_hash'), ['phone_hash'], unique=False)
        batch_op.create_index('ix_citizens_province_commune', ['province_code', 'commune_code'], unique=False)

    heads = sa.table("audit_chain_heads", sa.column("shard", sa.Integer),
                     sa.column("seq", sa.BigInteger), sa.column("head_hash", sa.LargeBinary))
    op.bulk_insert(heads, [
        {"shard": shard, "seq": 0,
         "head_hash": hashlib.sha256(f"vnid-audit-genesis/{shard}".encode()).digest()}
        for shard in range(SHARDS)])
    if op.get_context().dialect.name == "postgresql":
        op.execute(PG_APPEND_ONLY)
    else:
        for statement in SQLITE_APPEND_ONLY:
            op.execute(statement)


def downgrade():
    if op.get_context().dialect.name == "postgresql":
        op.execute("DROP TRIGGER audit_events_append_only ON audit_events")
        op.execute("DROP FUNCTION audit_events_append_only()")
    else:
        op.execute("DROP TRIGGER audit_events_no_update")
        op.execute("DROP TRIGGER audit_events_no_delete")
    with op.batch_alter_table('citizens', schema=None) as batch_op:
        batch_op.drop_index('ix_citizens_province_commune')
        batch_op.drop_index(batch_op.f('ix_citizens_phone_hash'))
        batch_op.drop_index(batch_op.f('ix_citizens_household_id'))

    op.drop_table('citizens')
    op.drop_table('registry_import_runs')
    with op.batch_alter_table('audit_events', schema=None) as batch_op:
        batch_op.drop_index('ix_audit_events_subject')

    op.drop_table('audit_events')
    op.drop_table('audit_chain_heads')
