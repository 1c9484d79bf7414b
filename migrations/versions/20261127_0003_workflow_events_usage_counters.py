"""The history shared by every workflow; usage counters for monitoring.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27 11:30:00

"""
from alembic import op
import sqlalchemy as sa
import identity.database  # noqa: F401  (custom column types)


revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('workflow_events',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('workflow', sa.String(length=32), nullable=False),
    sa.Column('case_id', sa.BigInteger(), nullable=False),
    sa.Column('action', sa.String(length=32), nullable=False),
    sa.Column('from_state', sa.String(length=32), nullable=True),
    sa.Column('to_state', sa.String(length=32), nullable=False),
    sa.Column('role', sa.String(length=16), nullable=False),
    sa.Column('by', sa.String(length=100), nullable=True),
    sa.Column('note', sa.Text(), nullable=True),
    sa.Column('details', sa.JSON(), nullable=False),
    sa.Column('occurred_at', identity.database.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_workflow_events'))
    )
    with op.batch_alter_table('workflow_events', schema=None) as batch_op:
        batch_op.create_index('ix_workflow_events_case', ['workflow', 'case_id', 'id'], unique=False)


    op.create_table('usage_counters',
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('metric', sa.String(length=48), nullable=False),
    sa.Column('province_code', sa.String(length=2), nullable=False),
    sa.Column('commune_code', sa.String(length=5), nullable=False),
    sa.Column('count', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('day', 'metric', 'province_code', 'commune_code', name=op.f('pk_usage_counters'))
    )
    with op.batch_alter_table('usage_counters', schema=None) as batch_op:
        batch_op.create_index('ix_usage_counters_metric_day', ['metric', 'day'], unique=False)


def downgrade():
    with op.batch_alter_table('usage_counters', schema=None) as batch_op:
        batch_op.drop_index('ix_usage_counters_metric_day')
    op.drop_table('usage_counters')
    with op.batch_alter_table('workflow_events', schema=None) as batch_op:
        batch_op.drop_index('ix_workflow_events_case')
    op.drop_table('workflow_events')
