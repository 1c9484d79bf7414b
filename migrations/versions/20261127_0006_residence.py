"""Residence declarations: temporary stays, absences, lodging notices; temporary residences.

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
    op.create_table('absence_declarations',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('citizen_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('province_code', sa.String(length=2), nullable=False),
    sa.Column('commune_code', sa.String(length=5), nullable=False),
    sa.Column('start_date', sa.Date(), nullable=False),
    sa.Column('end_date', sa.Date(), nullable=False),
    sa.Column('reason', sa.String(length=500), nullable=False),
    sa.Column('destination', sa.String(length=255), nullable=False),
    sa.Column('created_at', identity.database.UTCDateTime(timezone=True), nullable=False),
    sa.Column('decide_by', identity.database.UTCDateTime(timezone=True), nullable=False),
    sa.Column('acknowledged_at', identity.database.UTCDateTime(timezone=True), nullable=True),
    sa.Column('acknowledged_by_officer_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('status', sa.String(length=32), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['acknowledged_by_officer_id'], ['officers.id'], name=op.f('fk_absence_declarations_acknowledged_by_officer_id_officers')),
    sa.ForeignKeyConstraint(['citizen_id'], ['citizens.id'], name=op.f('fk_absence_declarations_citizen_id_citizens')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_absence_declarations'))
    )
    with op.batch_alter_table('absence_declarations', schema=None) as batch_op:
        batch_op.create_index('ix_absence_declarations_citizen', ['citizen_id', 'id'], unique=False)
        batch_op.create_index(batch_op.f('ix_absence_declarations_decide_by'), ['decide_by'], unique=False)
        batch_op.create_index(batch_op.f('ix_absence_declarations_status'), ['status'], unique=False)
        batch_op.create_index('ix_absence_declarations_unit', ['province_code', 'commune_code', 'status'], unique=False)

    op.create_table('lodging_notices',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('province_code', sa.String(length=2), nullable=False),
    sa.Column('commune_code', sa.String(length=5), nullable=False),
    sa.Column('address', sa.String(length=255), nullable=False),
    sa.Column('notifier_type', sa.String(length=16), nullable=False),
    sa.Column('notifier_id', sa.String(length=64), nullable=False),
    sa.Column('host_citizen_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('created_at', identity.database.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['host_citizen_id'], ['citizens.id'], name=op.f('fk_lodging_notices_host_citizen_id_citizens')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_lodging_notices'))
    )
    with op.batch_alter_table('lodging_notices', schema=None) as batch_op:
        batch_op.create_index('ix_lodging_notices_unit', ['province_code', 'commune_code'], unique=False)

    op.create_table('temporary_residences',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('citizen_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('province_code', sa.String(length=2), nullable=False),
    sa.Column('commune_code', sa.String(length=5), nullable=False),
    sa.Column('address', sa.String(length=255), nullable=False),
    sa.Column('start_date', sa.Date(), nullable=False),
    sa.Column('end_date', sa.Date(), nullable=False),
    sa.Column('source', sa.String(length=64), nullable=False),
    sa.Column('registered_at', identity.database.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['citizen_id'], ['citizens.id'], name=op.f('fk_temporary_residences_citizen_id_citizens')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_temporary_residences')),
    sa.UniqueConstraint('source', name=op.f('uq_temporary_residences_source'))
    )
    with op.batch_alter_table('temporary_residences', schema=None) as batch_op:
        batch_op.create_index('ix_temporary_residences_citizen', ['citizen_id', 'start_date'], unique=False)

    op.create_table('temporary_stays',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('citizen_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('province_code', sa.String(length=2), nullable=False),
    sa.Column('commune_code', sa.String(length=5), nullable=False),
    sa.Column('address', sa.String(length=255), nullable=False),
    sa.Column('start_date', sa.Date(), nullable=False),
    sa.Column('end_date', sa.Date(), nullable=False),
    sa.Column('reason', sa.String(length=500), nullable=False),
    sa.Column('host_citizen_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('host_check', sa.String(length=16), nullable=False),
    sa.Column('host_confirmed_at', identity.database.UTCDateTime(timezone=True), nullable=True),
    sa.Column('previous_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('created_at', identity.database.UTCDateTime(timezone=True), nullable=False),
    sa.Column('submitted_at', identity.database.UTCDateTime(timezone=True), nullable=True),
    sa.Column('decide_by', identity.database.UTCDateTime(timezone=True), nullable=True),
    sa.Column('decided_at', identity.database.UTCDateTime(timezone=True), nullable=True),
    sa.Column('decided_by_officer_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('decision_reason', sa.String(length=500), nullable=True),
    sa.Column('status', sa.String(length=32), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['citizen_id'], ['citizens.id'], name=op.f('fk_temporary_stays_citizen_id_citizens')),
    sa.ForeignKeyConstraint(['decided_by_officer_id'], ['officers.id'], name=op.f('fk_temporary_stays_decided_by_officer_id_officers')),
    sa.ForeignKeyConstraint(['host_citizen_id'], ['citizens.id'], name=op.f('fk_temporary_stays_host_citizen_id_citizens')),
    sa.ForeignKeyConstraint(['previous_id'], ['temporary_stays.id'], name=op.f('fk_temporary_stays_previous_id_temporary_stays')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_temporary_stays'))
    )
    with op.batch_alter_table('temporary_stays', schema=None) as batch_op:
        batch_op.create_index('ix_temporary_stays_citizen', ['citizen_id', 'id'], unique=False)
        batch_op.create_index(batch_op.f('ix_temporary_stays_decide_by'), ['decide_by'], unique=False)
        batch_op.create_index('ix_temporary_stays_host', ['host_citizen_id', 'status'], unique=False)
        batch_op.create_index(batch_op.f('ix_temporary_stays_status'), ['status'], unique=False)
        batch_op.create_index('ix_temporary_stays_unit', ['province_code', 'commune_code', 'status'], unique=False)

    op.create_table('lodging_guests',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('notice_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('citizen_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('arrival', sa.Date(), nullable=False),
    sa.Column('departure', sa.Date(), nullable=False),
    sa.ForeignKeyConstraint(['citizen_id'], ['citizens.id'], name=op.f('fk_lodging_guests_citizen_id_citizens')),
    sa.ForeignKeyConstraint(['notice_id'], ['lodging_notices.id'], name=op.f('fk_lodging_guests_notice_id_lodging_notices')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_lodging_guests'))
    )
    with op.batch_alter_table('lodging_guests', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_lodging_guests_citizen_id'), ['citizen_id'], unique=False)
        batch_op.create_index('ix_lodging_guests_stay', ['notice_id', 'arrival', 'departure'], unique=False)


def downgrade():
    with op.batch_alter_table('lodging_guests', schema=None) as batch_op:
        batch_op.drop_index('ix_lodging_guests_stay')
        batch_op.drop_index(batch_op.f('ix_lodging_guests_citizen_id'))

    op.drop_table('lodging_guests')
    with op.batch_alter_table('temporary_stays', schema=None) as batch_op:
        batch_op.drop_index('ix_temporary_stays_unit')
        batch_op.drop_index(batch_op.f('ix_temporary_stays_status'))
        batch_op.drop_index('ix_temporary_stays_host')
        batch_op.drop_index(batch_op.f('ix_temporary_stays_decide_by'))
        batch_op.drop_index('ix_temporary_stays_citizen')

    op.drop_table('temporary_stays')
    with op.batch_alter_table('temporary_residences', schema=None) as batch_op:
        batch_op.drop_index('ix_temporary_residences_citizen')

    op.drop_table('temporary_residences')
    with op.batch_alter_table('lodging_notices', schema=None) as batch_op:
        batch_op.drop_index('ix_lodging_notices_unit')

    op.drop_table('lodging_notices')
    with op.batch_alter_table('absence_declarations', schema=None) as batch_op:
        batch_op.drop_index('ix_absence_declarations_unit')
        batch_op.drop_index(batch_op.f('ix_absence_declarations_status'))
        batch_op.drop_index(batch_op.f('ix_absence_declarations_decide_by'))
        batch_op.drop_index('ix_absence_declarations_citizen')

    op.drop_table('absence_declarations')
