"""IVR call state by CallSid, verification attempts, reminder pause on accounts.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23 09:09:32.372920
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('verification_attempt',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('account_id', sa.Integer(), nullable=False),
    sa.Column('call_sid', sa.String(length=34), nullable=False),
    sa.Column('succeeded', sa.Boolean(), nullable=False),
    sa.Column('attempted_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['account_id'], ['card_account.id'], name=op.f('fk_verification_attempt_account_id_card_account')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_verification_attempt'))
    )
    with op.batch_alter_table('verification_attempt', schema=None) as batch_op:
        batch_op.create_index('ix_verification_attempt_account_at', ['account_id', 'attempted_at'], unique=False)

    op.create_table('ivr_call',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('call_sid', sa.String(length=34), nullable=False),
    sa.Column('from_number', sa.String(length=64), nullable=False),
    sa.Column('account_id', sa.Integer(), nullable=True),
    sa.Column('language', sa.String(length=8), nullable=True),
    sa.Column('step', sa.String(length=32), nullable=False),
    sa.Column('verified', sa.Boolean(), nullable=False),
    sa.Column('state', sa.Text(), nullable=False),
    sa.Column('intent', sa.String(length=32), nullable=True),
    sa.Column('case_id', sa.Integer(), nullable=True),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['account_id'], ['card_account.id'], name=op.f('fk_ivr_call_account_id_card_account')),
    sa.ForeignKeyConstraint(['case_id'], ['service_case.id'], name=op.f('fk_ivr_call_case_id_service_case')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_ivr_call')),
    sa.UniqueConstraint('call_sid', name=op.f('uq_ivr_call_call_sid'))
    )
    with op.batch_alter_table('ivr_call', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_ivr_call_account_id'), ['account_id'], unique=False)

    with op.batch_alter_table('card_account', schema=None) as batch_op:
        batch_op.add_column(sa.Column('reminders_paused_until', sa.Date(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('card_account', schema=None) as batch_op:
        batch_op.drop_column('reminders_paused_until')

    with op.batch_alter_table('ivr_call', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_ivr_call_account_id'))

    op.drop_table('ivr_call')
    with op.batch_alter_table('verification_attempt', schema=None) as batch_op:
        batch_op.drop_index('ix_verification_attempt_account_at')

    op.drop_table('verification_attempt')

