"""The agent desk: the queue of waiting callers, agents' notes, late-fee waivers.

Revision ID: 0011
Revises: 0010 (the desk foundation's users and agencies)
Create Date: 2026-12-01 14:30:00

desk_queue_entry is a caller waiting for an agent from either line (inserted by the turn
that <Enqueue>s them, ended by the queue's action, taken by an agent's accept in one
guarded UPDATE); desk_note an agent's disposition and note; fee_waiver a late fee taken
off an account, applied within the agent's authority or pending a supervisor.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None

TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        'desk_queue_entry',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('call_sid', sa.String(length=34), nullable=False),
        sa.Column('line', sa.String(length=16), nullable=False),
        sa.Column('attempt_id', sa.Integer(), nullable=True),
        sa.Column('account_id', sa.Integer(), nullable=True),
        sa.Column('number', sa.String(length=64), nullable=False),
        sa.Column('language', sa.String(length=8), nullable=False),
        sa.Column('verified', sa.Boolean(), nullable=False),
        sa.Column('intent', sa.String(length=32), nullable=True),
        sa.Column('path', sa.Text(), nullable=False),
        sa.Column('case_id', sa.Integer(), nullable=True),
        sa.Column('status', sa.String(length=16), nullable=False),
        sa.Column('queued_at', TZ, nullable=False),
        sa.Column('last_seen_at', TZ, nullable=False),
        sa.Column('accepted_by', sa.String(length=100), nullable=True),
        sa.Column('accepted_by_user_id', sa.Integer(), nullable=True),
        sa.Column('accepted_at', TZ, nullable=True),
        sa.Column('agent_number', sa.String(length=16), nullable=True),
        sa.Column('bridged_at', TZ, nullable=True),
        sa.Column('ended_at', TZ, nullable=True),
        sa.Column('result', sa.String(length=32), nullable=True),
        sa.CheckConstraint(
            "status IN ('waiting', 'accepted', 'bridged', 'ended', 'left')",
            name=op.f('ck_desk_queue_entry_status_known'),
        ),
        sa.CheckConstraint(
            "line IN ('ivr', 'dialer')", name=op.f('ck_desk_queue_entry_line_known')
        ),
        sa.ForeignKeyConstraint(
            ['attempt_id'], ['contact_attempt.id'],
            name=op.f('fk_desk_queue_entry_attempt_id_contact_attempt'),
        ),
        sa.ForeignKeyConstraint(
            ['account_id'], ['card_account.id'],
            name=op.f('fk_desk_queue_entry_account_id_card_account'),
        ),
        sa.ForeignKeyConstraint(
            ['case_id'], ['service_case.id'],
            name=op.f('fk_desk_queue_entry_case_id_service_case'),
        ),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_desk_queue_entry')),
        sa.UniqueConstraint('call_sid', name=op.f('uq_desk_queue_entry_call_sid')),
    )
    op.create_index(
        op.f('ix_desk_queue_entry_account_id'), 'desk_queue_entry', ['account_id'], unique=False
    )
    op.create_index(
        'ix_desk_queue_entry_status_queued', 'desk_queue_entry', ['status', 'queued_at'],
        unique=False,
    )
    op.create_table(
        'desk_note',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('account_id', sa.Integer(), nullable=False),
        sa.Column('call_sid', sa.String(length=34), nullable=True),
        sa.Column('attempt_id', sa.Integer(), nullable=True),
        sa.Column('author', sa.String(length=100), nullable=False),
        sa.Column('disposition', sa.String(length=64), nullable=False),
        sa.Column('body', sa.Text(), nullable=False),
        sa.Column('created_at', TZ, nullable=False),
        sa.ForeignKeyConstraint(
            ['account_id'], ['card_account.id'],
            name=op.f('fk_desk_note_account_id_card_account'),
        ),
        sa.ForeignKeyConstraint(
            ['attempt_id'], ['contact_attempt.id'],
            name=op.f('fk_desk_note_attempt_id_contact_attempt'),
        ),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_desk_note')),
    )
    op.create_index(
        'ix_desk_note_account_created', 'desk_note', ['account_id', 'created_at'], unique=False
    )
    op.create_table(
        'fee_waiver',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('account_id', sa.Integer(), nullable=False),
        sa.Column('amount_minor', sa.BigInteger(), nullable=False),
        sa.Column('currency', sa.String(length=3), nullable=False),
        sa.Column('reason', sa.Text(), nullable=False),
        sa.Column('status', sa.String(length=16), nullable=False),
        sa.Column('requested_by', sa.String(length=100), nullable=False),
        sa.Column('requested_by_user_id', sa.Integer(), nullable=True),
        sa.Column('requested_at', TZ, nullable=False),
        sa.Column('decided_by', sa.String(length=100), nullable=True),
        sa.Column('decided_at', TZ, nullable=True),
        sa.Column('decision_note', sa.Text(), nullable=True),
        sa.Column('call_sid', sa.String(length=34), nullable=True),
        sa.CheckConstraint('amount_minor > 0', name=op.f('ck_fee_waiver_amount_positive')),
        sa.CheckConstraint(
            "status IN ('applied', 'pending', 'rejected')",
            name=op.f('ck_fee_waiver_status_known'),
        ),
        sa.ForeignKeyConstraint(
            ['account_id'], ['card_account.id'],
            name=op.f('fk_fee_waiver_account_id_card_account'),
        ),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_fee_waiver')),
    )
    op.create_index(op.f('ix_fee_waiver_account_id'), 'fee_waiver', ['account_id'], unique=False)
    op.create_index(
        'ix_fee_waiver_status_requested', 'fee_waiver', ['status', 'requested_at'], unique=False
    )


def downgrade() -> None:
    op.drop_table('fee_waiver')
    op.drop_table('desk_note')
    op.drop_table('desk_queue_entry')
