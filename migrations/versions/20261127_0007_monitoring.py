"""Monitoring: operators and summary counters.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-27 11:30:00

"""
from alembic import op
import sqlalchemy as sa
import identity.database  # noqa: F401  (custom column types)


revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('account_counts',
    sa.Column('province_code', sa.String(length=2), nullable=False),
    sa.Column('commune_code', sa.String(length=5), nullable=False),
    sa.Column('level', sa.SmallInteger(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('count', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('province_code', 'commune_code', 'level', 'status', name=op.f('pk_account_counts'))
    )
    op.create_table('usage_rollups',
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('metric', sa.String(length=48), nullable=False),
    sa.Column('province_code', sa.String(length=2), nullable=False),
    sa.Column('count', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('day', 'metric', 'province_code', name=op.f('pk_usage_rollups'))
    )
    op.create_table('rollup_state',
    sa.Column('name', sa.String(length=16), nullable=False),
    sa.Column('through_day', sa.Date(), nullable=False),
    sa.PrimaryKeyConstraint('name', name=op.f('pk_rollup_state'))
    )
    op.create_table('operators',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('token_hash', sa.LargeBinary(length=32), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('created_at', identity.database.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_operators')),
    sa.UniqueConstraint('name', name=op.f('uq_operators_name')),
    sa.UniqueConstraint('token_hash', name=op.f('uq_operators_token_hash'))
    )
    with op.batch_alter_table('usage_counters', schema=None) as batch_op:
        batch_op.create_index('ix_usage_counters_place', ['province_code', 'commune_code', 'metric', 'day'], unique=False)


def downgrade():
    with op.batch_alter_table('usage_counters', schema=None) as batch_op:
        batch_op.drop_index('ix_usage_counters_place')
    op.drop_table('operators')
    op.drop_table('rollup_state')
    op.drop_table('usage_rollups')
    op.drop_table('account_counts')
