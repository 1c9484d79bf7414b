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
    op.create_table('scam_indicators',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('kind', sa.String(length=8), nullable=False),
    sa.Column('value', sa.String(length=512), nullable=False),
    sa.Column('first_seen_at', identity.database.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint("kind IN ('phone', 'link')", name=op.f('ck_scam_indicators_kind')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_scam_indicators')),
    sa.UniqueConstraint('kind', 'value', name='uq_scam_indicators_kind_value')
    )
    op.create_table('reports',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('case_number', sa.String(length=20), nullable=False),
    sa.Column('category', sa.String(length=16), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('province_code', sa.String(length=2), nullable=False),
    sa.Column('commune_code', sa.String(length=5), nullable=True),
    sa.Column('location_known', sa.Boolean(), nullable=False),
    sa.Column('address', sa.String(length=255), nullable=True),
    sa.Column('occurred_at', identity.database.UTCDateTime(timezone=True), nullable=False),
    sa.Column('anonymous', sa.Boolean(), nullable=False),
    sa.Column('organisation_name', sa.String(length=255), nullable=True),
    sa.Column('organisation_tax_code', sa.String(length=14), nullable=True),
    sa.Column('reporter_encrypted', sa.LargeBinary(), nullable=False),
    sa.Column('reporter_hash', sa.LargeBinary(length=32), nullable=False),
    sa.Column('assigned_officer_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('resolution', sa.Text(), nullable=True),
    sa.Column('due_at', identity.database.UTCDateTime(timezone=True), nullable=True),
    sa.Column('created_at', identity.database.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', identity.database.UTCDateTime(timezone=True), nullable=False),
    sa.Column('status', sa.String(length=32), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.CheckConstraint("category IN ('crime', 'fraud', 'fire_hazard', 'traffic', 'environment', 'other')", name=op.f('ck_reports_category')),
    sa.CheckConstraint("status IN ('received', 'verifying', 'investigating', 'closed', 'rejected')", name=op.f('ck_reports_status')),
    sa.ForeignKeyConstraint(['assigned_officer_id'], ['officers.id'], name=op.f('fk_reports_assigned_officer_id_officers')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_reports')),
    sa.UniqueConstraint('case_number', name=op.f('uq_reports_case_number'))
    )
    with op.batch_alter_table('reports', schema=None) as batch_op:
        batch_op.create_index('ix_reports_commune_queue', ['commune_code', 'id'], unique=False)
        batch_op.create_index('ix_reports_province_queue', ['province_code', 'id'], unique=False)
        batch_op.create_index(batch_op.f('ix_reports_reporter_hash'), ['reporter_hash'], unique=False)
        batch_op.create_index(batch_op.f('ix_reports_status'), ['status'], unique=False)

    op.create_table('report_evidence',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('report_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('size', sa.BigInteger(), nullable=False),
    sa.Column('content_type', sa.String(length=32), nullable=False),
    sa.Column('received_at', identity.database.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['report_id'], ['reports.id'], name=op.f('fk_report_evidence_report_id_reports')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_report_evidence'))
    )
    with op.batch_alter_table('report_evidence', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_report_evidence_report_id'), ['report_id'], unique=False)

    op.create_table('report_indicators',
    sa.Column('report_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('indicator_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.ForeignKeyConstraint(['indicator_id'], ['scam_indicators.id'], name=op.f('fk_report_indicators_indicator_id_scam_indicators')),
    sa.ForeignKeyConstraint(['report_id'], ['reports.id'], name=op.f('fk_report_indicators_report_id_reports')),
    sa.PrimaryKeyConstraint('report_id', 'indicator_id', name=op.f('pk_report_indicators'))
    )
    with op.batch_alter_table('report_indicators', schema=None) as batch_op:
        batch_op.create_index('ix_report_indicators_indicator', ['indicator_id', 'report_id'], unique=False)


def downgrade():
    with op.batch_alter_table('report_indicators', schema=None) as batch_op:
        batch_op.drop_index('ix_report_indicators_indicator')
    op.drop_table('report_indicators')
    with op.batch_alter_table('report_evidence', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_report_evidence_report_id'))
    op.drop_table('report_evidence')
    with op.batch_alter_table('reports', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_reports_status'))
        batch_op.drop_index(batch_op.f('ix_reports_reporter_hash'))
        batch_op.drop_index('ix_reports_province_queue')
        batch_op.drop_index('ix_reports_commune_queue')
    op.drop_table('reports')
    op.drop_table('scam_indicators')
