"""relying parties hardening

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-05 08:00:00

"""
from alembic import op  # noqa: F401
import sqlalchemy as sa  # noqa: F401
import identity.database  # noqa: F401  (custom column types)


revision = '0015'
down_revision = '0014'
branch_labels = None
depends_on = None


def upgrade():
    """Consent requests remember the account asked (then the one that decided); a request
    for an unknown personal id has no citizen (it is made all the same, and reaches no one).
    """
    with op.batch_alter_table('consent_requests', schema=None) as batch_op:
        batch_op.alter_column('citizen_id', existing_type=sa.BigInteger(), nullable=True)
        batch_op.add_column(sa.Column('account_id', sa.BigInteger(), nullable=True))
        batch_op.create_foreign_key(batch_op.f('fk_consent_requests_account_id_accounts'),
                                    'accounts', ['account_id'], ['id'])


def downgrade():
    """Forget which account a consent request belongs to; requests without a citizen go."""
    op.execute("DELETE FROM consent_requests WHERE citizen_id IS NULL")
    with op.batch_alter_table('consent_requests', schema=None) as batch_op:
        batch_op.alter_column('citizen_id', existing_type=sa.BigInteger(), nullable=False)
        batch_op.drop_constraint(batch_op.f('fk_consent_requests_account_id_accounts'),
                                 type_='foreignkey')
        batch_op.drop_column('account_id')
