"""anonymous reports at rest: no sealed reporter, a chain of their own for their audit events

Anonymous reports keep no sealed reporter (``reporter_encrypted`` becomes
nullable: it stays empty for them), evidence says whether its metadata was
removed, and the audit log gets the chains of unlinkable events (shards -8
to -1, ``identity.audit.service.UNLINKABLE_SHARDS``). Reports filed anonymously before
this revision lose their seal; their reporter_hash (of the account id alone)
stays, so their reporter still finds them without a key.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-05 08:00:00

"""
import hashlib

from alembic import op  # noqa: F401
import sqlalchemy as sa  # noqa: F401
import identity.database  # noqa: F401  (custom column types)


revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None

UNLINKABLE_SHARDS = range(-8, 0)
_HEADS = sa.table("audit_chain_heads", sa.column("shard", sa.Integer),
                  sa.column("seq", sa.BigInteger), sa.column("head_hash", sa.LargeBinary))


def upgrade():
    """Let a report hold no sealed reporter; start the chain of unlinkable audit events."""
    with op.batch_alter_table('reports', schema=None) as batch_op:
        batch_op.alter_column('reporter_encrypted', existing_type=sa.LargeBinary(),
                              nullable=True)
    with op.batch_alter_table('report_evidence', schema=None) as batch_op:
        batch_op.add_column(sa.Column('metadata_removed', sa.Boolean(), nullable=True))
    # Anonymous reports filed before: their seal named the account and citizen to anyone
    # with the service's keys. Dropped; the reporter still follows them from their account.
    op.execute("UPDATE reports SET reporter_encrypted = NULL WHERE anonymous")
    op.bulk_insert(_HEADS, [
        {"shard": shard, "seq": 0,
         "head_hash": hashlib.sha256(f"vnid-audit-genesis/{shard}".encode()).digest()}
        for shard in UNLINKABLE_SHARDS])


def downgrade():
    """Refused once anonymous reports without a seal or unlinkable events exist."""
    bind = op.get_bind()
    unsealed = bind.scalar(sa.text("SELECT count(*) FROM reports "
                                   "WHERE reporter_encrypted IS NULL"))
    events = bind.scalar(sa.text("SELECT coalesce(sum(seq), 0) FROM audit_chain_heads "
                                 "WHERE shard < 0"))
    if unsealed or events:
        raise RuntimeError("anonymous reports without a sealed reporter, or unlinkable audit "
                           "events, exist: the schema before 0013 cannot hold them.")
    op.execute("DELETE FROM audit_chain_heads WHERE shard < 0")
    with op.batch_alter_table('report_evidence', schema=None) as batch_op:
        batch_op.drop_column('metadata_removed')
    with op.batch_alter_table('reports', schema=None) as batch_op:
        batch_op.alter_column('reporter_encrypted', existing_type=sa.LargeBinary(),
                              nullable=False)
