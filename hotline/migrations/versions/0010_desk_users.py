"""The desk's people: agencies and their placements, desk users (argon2 password hashes,
role, language, zone, phone, agency, waiver authority), their sessions and sign-in attempts.

Numbered 0010 by agreement between the desk branches; their own migrations revise this one.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-01 14:27:15
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('agency',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('code', sa.String(length=32), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_agency')),
    sa.UniqueConstraint('code', name=op.f('uq_agency_code'))
    )
    op.create_table('desk_user',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('username', sa.String(length=64), nullable=False),
    sa.Column('password_hash', sa.String(length=200), nullable=False),
    sa.Column('password_changed_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('role', sa.Enum('agent', 'supervisor', 'admin', name='desk_role', native_enum=False, create_constraint=True, length=32), nullable=False),
    sa.Column('display_name', sa.String(length=100), nullable=False),
    sa.Column('language', sa.Enum('en', 'zh-CN', name='desk_language', native_enum=False, create_constraint=True, length=32), nullable=False),
    sa.Column('time_zone', sa.String(length=64), nullable=False),
    sa.Column('phone', sa.String(length=16), nullable=True),
    sa.Column('agency_id', sa.Integer(), nullable=True),
    sa.Column('waiver_limit_minor', sa.BigInteger(), server_default='0', nullable=False),
    sa.Column('waiver_currency', sa.String(length=3), server_default='USD', nullable=False),
    sa.Column('disabled_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('last_seen_at', sa.DateTime(timezone=True), nullable=True),
    sa.CheckConstraint('waiver_limit_minor >= 0', name=op.f('ck_desk_user_waiver_limit_not_negative')),
    sa.ForeignKeyConstraint(['agency_id'], ['agency.id'], name=op.f('fk_desk_user_agency_id_agency')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_desk_user')),
    sa.UniqueConstraint('username', name=op.f('uq_desk_user_username'))
    )
    with op.batch_alter_table('desk_user', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_desk_user_agency_id'), ['agency_id'], unique=False)

    op.create_table('desk_session',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('address', sa.String(length=64), nullable=False),
    sa.Column('user_agent', sa.String(length=200), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('last_seen_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('ended_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('end_reason', sa.String(length=32), nullable=True),
    sa.ForeignKeyConstraint(['user_id'], ['desk_user.id'], name=op.f('fk_desk_session_user_id_desk_user'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_desk_session')),
    sa.UniqueConstraint('token_hash', name=op.f('uq_desk_session_token_hash'))
    )
    with op.batch_alter_table('desk_session', schema=None) as batch_op:
        batch_op.create_index('ix_desk_session_user_open', ['user_id', 'ended_at'], unique=False)

    op.create_table('login_attempt',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('username', sa.String(length=64), nullable=False),
    sa.Column('address', sa.String(length=64), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=True),
    sa.Column('outcome', sa.Enum('pending', 'succeeded', 'failed', 'refused', name='login_outcome', native_enum=False, create_constraint=True, length=32), nullable=False),
    sa.Column('attempted_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['desk_user.id'], name=op.f('fk_login_attempt_user_id_desk_user'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_login_attempt'))
    )
    with op.batch_alter_table('login_attempt', schema=None) as batch_op:
        batch_op.create_index('ix_login_attempt_address_at', ['address', 'attempted_at'], unique=False)
        batch_op.create_index('ix_login_attempt_username_at', ['username', 'attempted_at'], unique=False)

    op.create_table('placement',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('account_id', sa.Integer(), nullable=False),
    sa.Column('agency_id', sa.Integer(), nullable=False),
    sa.Column('starts_on', sa.Date(), nullable=False),
    sa.Column('ends_on', sa.Date(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint('ends_on IS NULL OR ends_on >= starts_on', name=op.f('ck_placement_ends_not_before_start')),
    sa.ForeignKeyConstraint(['account_id'], ['card_account.id'], name=op.f('fk_placement_account_id_card_account'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['agency_id'], ['agency.id'], name=op.f('fk_placement_agency_id_agency')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_placement')),
    sa.UniqueConstraint('account_id', 'agency_id', 'starts_on', name=op.f('uq_placement_account_id_agency_id_starts_on'))
    )
    with op.batch_alter_table('placement', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_placement_account_id'), ['account_id'], unique=False)
        batch_op.create_index('ix_placement_agency_account', ['agency_id', 'account_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('placement', schema=None) as batch_op:
        batch_op.drop_index('ix_placement_agency_account')
        batch_op.drop_index(batch_op.f('ix_placement_account_id'))

    op.drop_table('placement')
    with op.batch_alter_table('login_attempt', schema=None) as batch_op:
        batch_op.drop_index('ix_login_attempt_username_at')
        batch_op.drop_index('ix_login_attempt_address_at')

    op.drop_table('login_attempt')
    with op.batch_alter_table('desk_session', schema=None) as batch_op:
        batch_op.drop_index('ix_desk_session_user_open')

    op.drop_table('desk_session')
    with op.batch_alter_table('desk_user', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_desk_user_agency_id'))

    op.drop_table('desk_user')
    op.drop_table('agency')
