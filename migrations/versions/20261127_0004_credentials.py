"""Issuer keys and issued credentials (VN1).

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-27 11:30:00

"""
from alembic import op
import sqlalchemy as sa
import identity.database  # noqa: F401  (custom column types)


revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('issuer_keys',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('kid', sa.String(length=16), nullable=False),
    sa.Column('public_key', sa.LargeBinary(), nullable=False),
    sa.Column('private_key_encrypted', sa.LargeBinary(), nullable=False),
    sa.Column('status', sa.String(length=8), nullable=False),
    sa.Column('not_before', identity.database.UTCDateTime(timezone=True), nullable=False),
    sa.Column('not_after', identity.database.UTCDateTime(timezone=True), nullable=True),
    sa.Column('revoked_at', identity.database.UTCDateTime(timezone=True), nullable=True),
    sa.Column('changed_at', identity.database.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_issuer_keys')),
    sa.UniqueConstraint('kid', name=op.f('uq_issuer_keys_kid'))
    )
    op.create_table('credentials',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('account_id', sa.BigInteger(), nullable=False),
    sa.Column('citizen_id', sa.BigInteger(), nullable=False),
    sa.Column('type', sa.String(length=32), nullable=False),
    sa.Column('kid', sa.String(length=16), nullable=False),
    sa.Column('audience', sa.String(length=100), nullable=True),
    sa.Column('issued_at', identity.database.UTCDateTime(timezone=True), nullable=False),
    sa.Column('expires_at', identity.database.UTCDateTime(timezone=True), nullable=False),
    sa.Column('revoked_at', identity.database.UTCDateTime(timezone=True), nullable=True),
    sa.Column('revoked_by', sa.String(length=64), nullable=True),
    sa.Column('used_at', identity.database.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['account_id'], ['accounts.id'], name=op.f('fk_credentials_account_id_accounts')),
    sa.ForeignKeyConstraint(['citizen_id'], ['citizens.id'], name=op.f('fk_credentials_citizen_id_citizens')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_credentials'))
    )
    with op.batch_alter_table('credentials', schema=None) as batch_op:
        batch_op.create_index('ix_credentials_account', ['account_id', 'issued_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_credentials_citizen_id'), ['citizen_id'], unique=False)


def downgrade():
    with op.batch_alter_table('credentials', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_credentials_citizen_id'))
        batch_op.drop_index('ix_credentials_account')
    op.drop_table('credentials')
    op.drop_table('issuer_keys')
