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


def upgrade():
    pass


def downgrade():
    pass
