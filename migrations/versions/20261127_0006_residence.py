"""Residence declarations: temporary stays, absences, lodging notices.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-27 11:30:00

"""
from alembic import op
import sqlalchemy as sa
import identity.database  # noqa: F401  (custom column types)


revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade():
    pass


def downgrade():
    pass
