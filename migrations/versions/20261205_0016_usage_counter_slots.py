"""usage counter slots

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-05 19:00:00

"""
from alembic import op  # noqa: F401
import sqlalchemy as sa  # noqa: F401


revision = '0016'
down_revision = '0015'
branch_labels = None
depends_on = None


def upgrade():
    """A usage count spread over slots (``identity.monitoring.models.UsageCounter``): the
    rows there are become slot 0 of their count."""
    with op.batch_alter_table('usage_counters', schema=None) as batch_op:
        batch_op.add_column(sa.Column('slot', sa.SmallInteger(), server_default='0',
                                      nullable=False))
        batch_op.drop_constraint('pk_usage_counters', type_='primary')
        batch_op.create_primary_key('pk_usage_counters',
                                    ['day', 'metric', 'province_code', 'commune_code', 'slot'])


def downgrade():
    """Each count back in one row: its slots summed into slot 0, the others deleted."""
    op.execute("UPDATE usage_counters SET count = (SELECT sum(o.count) FROM usage_counters AS o "
               "WHERE o.day = usage_counters.day AND o.metric = usage_counters.metric "
               "AND o.province_code = usage_counters.province_code "
               "AND o.commune_code = usage_counters.commune_code) WHERE slot = 0")
    op.execute("INSERT INTO usage_counters (day, metric, province_code, commune_code, slot, count) "
               "SELECT day, metric, province_code, commune_code, 0, sum(count) "
               "FROM usage_counters AS o GROUP BY day, metric, province_code, commune_code "
               "HAVING min(slot) > 0")
    op.execute("DELETE FROM usage_counters WHERE slot <> 0")
    with op.batch_alter_table('usage_counters', schema=None) as batch_op:
        batch_op.drop_constraint('pk_usage_counters', type_='primary')
        batch_op.create_primary_key('pk_usage_counters',
                                    ['day', 'metric', 'province_code', 'commune_code'])
        batch_op.drop_column('slot')
