"""lodging review queue, payment holds

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-05 08:00:00

"""
from alembic import op  # noqa: F401
import sqlalchemy as sa  # noqa: F401
import identity.database  # noqa: F401  (custom column types)


revision = '0014'
down_revision = '0013'
branch_labels = None
depends_on = None


def upgrade():
    """Lodging guests and stay hosts outside the registry are kept for review (no oracle);
    refunds become one per attempt, with a kind (``order`` or ``held``) and no officer for
    the money held after an amount mismatch."""
    with op.batch_alter_table('temporary_stays', schema=None) as batch_op:
        batch_op.alter_column('host_citizen_id', existing_type=sa.BigInteger().with_variant(
            sa.Integer(), 'sqlite'), nullable=True)
        batch_op.add_column(sa.Column('host_personal_id', sa.String(length=12), nullable=True))

    with op.batch_alter_table('lodging_guests', schema=None) as batch_op:
        batch_op.alter_column('citizen_id', existing_type=sa.BigInteger().with_variant(
            sa.Integer(), 'sqlite'), nullable=True)
        batch_op.add_column(sa.Column('personal_id', sa.String(length=12), nullable=True))
        batch_op.add_column(sa.Column('declared_name', sa.String(length=255), nullable=True))
        batch_op.add_column(sa.Column('declared_birth_date', sa.Date(), nullable=True))
        batch_op.add_column(sa.Column('review_reason', sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column('review_state', sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column('reviewed_at', identity.database.UTCDateTime(),
                                      nullable=True))
        batch_op.add_column(sa.Column('reviewed_by_officer_id', sa.BigInteger().with_variant(
            sa.Integer(), 'sqlite'), nullable=True))
        batch_op.create_foreign_key(batch_op.f('fk_lodging_guests_reviewed_by_officer_id_officers'),
                                    'officers', ['reviewed_by_officer_id'], ['id'])
        batch_op.create_index('ix_lodging_guests_review', ['review_state'], unique=False)

    with op.batch_alter_table('payment_refunds', schema=None) as batch_op:
        batch_op.add_column(sa.Column('kind', sa.String(length=8), server_default='order',
                                      nullable=False))
        batch_op.alter_column('officer_id', existing_type=sa.BigInteger().with_variant(
            sa.Integer(), 'sqlite'), nullable=True)
        batch_op.drop_constraint(batch_op.f('uq_payment_refunds_order_id'), type_='unique')
        batch_op.create_unique_constraint(batch_op.f('uq_payment_refunds_attempt_id'),
                                          ['attempt_id'])
        batch_op.create_index('ix_payment_refunds_order', ['order_id', 'kind'], unique=False)


def downgrade():
    """Back to one refund per order and registry-only guests and hosts (the rows that do not
    fit are deleted: held refunds, guests and stays without a registry citizen)."""
    op.execute("DELETE FROM payment_refunds WHERE kind <> 'order'")
    with op.batch_alter_table('payment_refunds', schema=None) as batch_op:
        batch_op.drop_index('ix_payment_refunds_order')
        batch_op.drop_constraint(batch_op.f('uq_payment_refunds_attempt_id'), type_='unique')
        batch_op.create_unique_constraint(batch_op.f('uq_payment_refunds_order_id'),
                                          ['order_id'])
        batch_op.alter_column('officer_id', existing_type=sa.BigInteger().with_variant(
            sa.Integer(), 'sqlite'), nullable=False)
        batch_op.drop_column('kind')

    op.execute("DELETE FROM lodging_guests WHERE citizen_id IS NULL")
    with op.batch_alter_table('lodging_guests', schema=None) as batch_op:
        batch_op.drop_index('ix_lodging_guests_review')
        batch_op.drop_constraint(batch_op.f('fk_lodging_guests_reviewed_by_officer_id_officers'),
                                 type_='foreignkey')
        for column in ('reviewed_by_officer_id', 'reviewed_at', 'review_state', 'review_reason',
                       'declared_birth_date', 'declared_name', 'personal_id'):
            batch_op.drop_column(column)
        batch_op.alter_column('citizen_id', existing_type=sa.BigInteger().with_variant(
            sa.Integer(), 'sqlite'), nullable=False)

    op.execute("DELETE FROM workflow_events WHERE workflow = 'temporary_stay' AND case_id IN "
                "(SELECT id FROM temporary_stays WHERE host_citizen_id IS NULL)")
    op.execute("UPDATE temporary_stays SET previous_id = NULL WHERE previous_id IN "
                "(SELECT id FROM temporary_stays WHERE host_citizen_id IS NULL)")
    op.execute("DELETE FROM temporary_stays WHERE host_citizen_id IS NULL")
    with op.batch_alter_table('temporary_stays', schema=None) as batch_op:
        batch_op.drop_column('host_personal_id')
        batch_op.alter_column('host_citizen_id', existing_type=sa.BigInteger().with_variant(
            sa.Integer(), 'sqlite'), nullable=False)
