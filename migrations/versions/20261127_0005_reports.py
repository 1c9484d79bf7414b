"""Incident reports: cases, evidence, messages, scam indicators.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-27 11:30:00

"""
from alembic import op
import sqlalchemy as sa
import identity.database  # noqa: F401  (custom column types)


revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade():
    pass


def downgrade():
    pass
