"""accounts closed state, one open account per citizen

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-05 08:00:00

"""
from alembic import op  # noqa: F401
import sqlalchemy as sa  # noqa: F401
import identity.database  # noqa: F401  (custom column types)


revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


_OLD_STATUSES = "status IN ('active', 'pending_review', 'locked', 'rejected')"
_NEW_STATUSES = "status IN ('active', 'pending_review', 'locked', 'rejected', 'closed')"
_OPEN = "status <> 'closed'"


def upgrade():
    """Add the ``closed`` state; one account per citizen becomes one OPEN account per citizen."""
    with op.batch_alter_table('accounts', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('ck_accounts_status'), type_='check')
        batch_op.create_check_constraint('status', _NEW_STATUSES)
        batch_op.drop_constraint(batch_op.f('uq_accounts_citizen_id'), type_='unique')
        batch_op.create_index('uq_accounts_one_open', ['citizen_id'], unique=True,
                              postgresql_where=sa.text(_OPEN), sqlite_where=sa.text(_OPEN))


def downgrade():
    """Back to one account per citizen; refused while closed accounts exist (they would clash)."""
    closed = op.get_bind().scalar(sa.text("SELECT count(*) FROM accounts WHERE status = 'closed'"))
    if closed:
        raise RuntimeError(f"{closed} closed accounts exist: the schema before 0011 cannot hold "
                           "them. Archive and delete them first.")
    with op.batch_alter_table('accounts', schema=None) as batch_op:
        batch_op.drop_index('uq_accounts_one_open')
        batch_op.create_unique_constraint(batch_op.f('uq_accounts_citizen_id'), ['citizen_id'])
        batch_op.drop_constraint(batch_op.f('ck_accounts_status'), type_='check')
        batch_op.create_check_constraint('status', _OLD_STATUSES)
