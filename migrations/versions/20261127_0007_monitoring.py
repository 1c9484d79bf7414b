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
    pass


def downgrade():
    pass
