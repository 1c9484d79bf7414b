"""coordination: data sources, their records, load runs, daily counts, document credentials

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02 05:30:00

"""
from alembic import op
import sqlalchemy as sa
import identity.database  # noqa: F401  (custom column types)


revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None

REVIEW = "link_state IN ('mismatch', 'unknown_id') AND resolution IS NULL"


def upgrade():
    op.create_table('data_sources',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('kind', sa.String(length=24), nullable=False),
    sa.Column('party_id', sa.BigInteger(), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('created_at', identity.database.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint("kind IN ('education', 'passport', 'driving_licence', 'health_insurance', 'vehicle', 'telecom')", name=op.f('ck_data_sources_kind')),
    sa.ForeignKeyConstraint(['party_id'], ['relying_parties.id'], name=op.f('fk_data_sources_party_id_relying_parties')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_data_sources')),
    sa.UniqueConstraint('name', name=op.f('uq_data_sources_name'))
    )
    with op.batch_alter_table('data_sources', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_data_sources_party_id'), ['party_id'], unique=False)

    op.create_table('source_daily_counts',
    sa.Column('source_id', sa.BigInteger(), nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('received', sa.Integer(), nullable=False),
    sa.Column('linked', sa.Integer(), nullable=False),
    sa.Column('mismatched', sa.Integer(), nullable=False),
    sa.Column('unknown_id', sa.Integer(), nullable=False),
    sa.Column('rejected', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['source_id'], ['data_sources.id'], name=op.f('fk_source_daily_counts_source_id_data_sources')),
    sa.PrimaryKeyConstraint('source_id', 'day', name=op.f('pk_source_daily_counts'))
    )
    op.create_table('source_load_runs',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('source_id', sa.BigInteger(), nullable=False),
    sa.Column('file_name', sa.String(length=255), nullable=False),
    sa.Column('file_key', sa.String(length=64), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('started_at', identity.database.UTCDateTime(timezone=True), nullable=False),
    sa.Column('finished_at', identity.database.UTCDateTime(timezone=True), nullable=True),
    sa.Column('lines_done', sa.BigInteger(), nullable=False),
    sa.Column('rows_written', sa.BigInteger(), nullable=False),
    sa.Column('rows_unchanged', sa.BigInteger(), nullable=False),
    sa.Column('rows_rejected', sa.BigInteger(), nullable=False),
    sa.Column('batches_committed', sa.Integer(), nullable=False),
    sa.Column('report_path', sa.String(length=1024), nullable=True),
    sa.Column('error', sa.String(length=1024), nullable=True),
    sa.ForeignKeyConstraint(['source_id'], ['data_sources.id'], name=op.f('fk_source_load_runs_source_id_data_sources')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_source_load_runs'))
    )
    with op.batch_alter_table('source_load_runs', schema=None) as batch_op:
        batch_op.create_index('ix_source_load_runs_resume', ['source_id', 'file_key', 'status'], unique=False)

    op.create_table('source_records',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('source_id', sa.BigInteger(), nullable=False),
    sa.Column('record_key', sa.String(length=64), nullable=False),
    sa.Column('personal_id_hash', sa.LargeBinary(length=32), nullable=False),
    sa.Column('citizen_id', sa.BigInteger(), nullable=True),
    sa.Column('link_state', sa.String(length=16), nullable=False),
    sa.Column('mismatch_fields', sa.String(length=64), nullable=True),
    sa.Column('resolution', sa.String(length=20), nullable=True),
    sa.Column('resolved_at', identity.database.UTCDateTime(timezone=True), nullable=True),
    sa.Column('resolved_by', sa.String(length=64), nullable=True),
    sa.Column('status', sa.String(length=12), nullable=False),
    sa.Column('valid_from', sa.Date(), nullable=True),
    sa.Column('valid_until', sa.Date(), nullable=True),
    sa.Column('data_encrypted', sa.LargeBinary(), nullable=False),
    sa.Column('content_hash', sa.LargeBinary(length=32), nullable=False),
    sa.Column('received_at', identity.database.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', identity.database.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint("link_state IN ('linked', 'mismatch', 'unknown_id', 'unlinked')", name=op.f('ck_source_records_link_state')),
    sa.CheckConstraint("resolution IS NULL OR resolution IN ('registry_right', 'source_right', 'not_this_citizen')", name=op.f('ck_source_records_resolution')),
    sa.CheckConstraint("status IN ('valid', 'revoked', 'suspended', 'expired')", name=op.f('ck_source_records_status')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_source_records')),
    sa.UniqueConstraint('source_id', 'record_key', name='uq_source_records_source_key')
    )
    with op.batch_alter_table('source_records', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_source_records_citizen_id'), ['citizen_id'], unique=False)
        # Partial: only the records under review (identity/coordination/models.py).
        batch_op.create_index('ix_source_records_review', ['received_at'], unique=False,
                              postgresql_where=sa.text(REVIEW), sqlite_where=sa.text(REVIEW))

    op.create_table('document_credentials',
    sa.Column('credential_id', sa.String(length=32), nullable=False),
    sa.Column('record_id', sa.BigInteger(), nullable=False),
    sa.ForeignKeyConstraint(['credential_id'], ['credentials.id'], name=op.f('fk_document_credentials_credential_id_credentials')),
    sa.ForeignKeyConstraint(['record_id'], ['source_records.id'], name=op.f('fk_document_credentials_record_id_source_records')),
    sa.PrimaryKeyConstraint('credential_id', name=op.f('pk_document_credentials'))
    )
    with op.batch_alter_table('document_credentials', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_document_credentials_record_id'), ['record_id'], unique=False)


def downgrade():
    with op.batch_alter_table('document_credentials', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_document_credentials_record_id'))

    op.drop_table('document_credentials')
    with op.batch_alter_table('source_records', schema=None) as batch_op:
        batch_op.drop_index('ix_source_records_review')
        batch_op.drop_index(batch_op.f('ix_source_records_citizen_id'))

    op.drop_table('source_records')
    with op.batch_alter_table('source_load_runs', schema=None) as batch_op:
        batch_op.drop_index('ix_source_load_runs_resume')

    op.drop_table('source_load_runs')
    op.drop_table('source_daily_counts')
    with op.batch_alter_table('data_sources', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_data_sources_party_id'))

    op.drop_table('data_sources')
