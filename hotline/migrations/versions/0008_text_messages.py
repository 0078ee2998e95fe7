"""Texts the dialer sends (follow-ups, courtesy reminders, thank-yous) as queue rows.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01 15:00:00

text_message: one row per reason to text, unique by (kind, source_key) so that finding the
same follow-up twice queues nothing new; its placement state (worker, claim, lease,
provider SID) as contact_attempt has for calls (dialer/text_queue.py). Indexes on
contact_attempt.ended_at and payment.posted_at, for the texts job's look at what just
happened.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None

KINDS = ('follow-up', 'reminder', 'thank-you')
STATUSES = ('queued', 'sending', 'sent', 'skipped', 'failed')


def upgrade() -> None:
    op.create_table(
        'text_message',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('account_id', sa.Integer(), nullable=False),
        sa.Column('phone_id', sa.Integer(), nullable=True),
        sa.Column('number', sa.String(length=16), nullable=False),
        sa.Column('campaign_id', sa.Integer(), nullable=True),
        sa.Column(
            'kind',
            sa.Enum(*KINDS, name='text_kind', native_enum=False, create_constraint=True, length=32),
            nullable=False,
        ),
        sa.Column('source_key', sa.String(length=64), nullable=False),
        sa.Column('body_key', sa.String(length=64), nullable=False),
        sa.Column('language', sa.String(length=8), nullable=False),
        sa.Column('params', sa.Text(), nullable=False),
        sa.Column('body', sa.Text(), nullable=True),
        sa.Column(
            'status',
            sa.Enum(
                *STATUSES, name='text_status', native_enum=False, create_constraint=True, length=32
            ),
            nullable=False,
        ),
        sa.Column('due_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('expires_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('worker_id', sa.String(length=64), nullable=True),
        sa.Column('claimed_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('lease_until', sa.DateTime(timezone=True), nullable=True),
        sa.Column('provider_sid', sa.String(length=34), nullable=True),
        sa.Column('sent_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('retries', sa.Integer(), server_default='0', nullable=False),
        sa.Column('error_code', sa.String(length=16), nullable=True),
        sa.Column('error_message', sa.String(length=500), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ['account_id'], ['card_account.id'], name=op.f('fk_text_message_account_id_card_account')
        ),
        sa.ForeignKeyConstraint(
            ['campaign_id'], ['campaign.id'], name=op.f('fk_text_message_campaign_id_campaign')
        ),
        sa.ForeignKeyConstraint(['phone_id'], ['phone.id'], name=op.f('fk_text_message_phone_id_phone')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_text_message')),
        sa.UniqueConstraint('kind', 'source_key', name=op.f('uq_text_message_kind_source_key')),
        sa.UniqueConstraint('provider_sid', name=op.f('uq_text_message_provider_sid')),
    )
    op.create_index('ix_text_message_due', 'text_message', ['status', 'due_at'], unique=False)
    op.create_index(
        'ix_text_message_account_created', 'text_message', ['account_id', 'created_at'], unique=False
    )
    # What the texts job looks for on every run: calls just ended, payments just posted.
    op.create_index('ix_contact_attempt_ended', 'contact_attempt', ['ended_at'], unique=False)
    op.create_index('ix_payment_posted', 'payment', ['posted_at'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_payment_posted', table_name='payment')
    op.drop_index('ix_contact_attempt_ended', table_name='contact_attempt')
    op.drop_index('ix_text_message_account_created', table_name='text_message')
    op.drop_index('ix_text_message_due', table_name='text_message')
    op.drop_table('text_message')
