"""The bank's posting file and the promise lifecycle: a payment's booking day, and what part
of each payment counted toward a promise or an instalment.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-01 15:00:00

payment gains posted_on (the day the bank's file says it was booked; payments taken here
keep posted_at). payment_allocation holds, per kept promise or paid instalment, the
payments drawn on and how much of each: a payment's rows never exceed its amount.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('payment', schema=None) as batch_op:
        batch_op.add_column(sa.Column('posted_on', sa.Date(), nullable=True))
    op.create_table(
        'payment_allocation',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('payment_id', sa.Integer(), nullable=False),
        sa.Column('promise_id', sa.Integer(), nullable=True),
        sa.Column('instalment_id', sa.Integer(), nullable=True),
        sa.Column('amount_minor', sa.BigInteger(), nullable=False),
        sa.Column('allocated_at', sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint('amount_minor > 0', name=op.f('ck_payment_allocation_amount_positive')),
        sa.CheckConstraint(
            '(promise_id IS NULL) <> (instalment_id IS NULL)',
            name=op.f('ck_payment_allocation_one_arrangement'),
        ),
        sa.ForeignKeyConstraint(
            ['payment_id'], ['payment.id'], name=op.f('fk_payment_allocation_payment_id_payment')
        ),
        sa.ForeignKeyConstraint(
            ['promise_id'],
            ['promise_to_pay.id'],
            name=op.f('fk_payment_allocation_promise_id_promise_to_pay'),
        ),
        sa.ForeignKeyConstraint(
            ['instalment_id'],
            ['plan_instalment.id'],
            name=op.f('fk_payment_allocation_instalment_id_plan_instalment'),
            ondelete='CASCADE',
        ),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_payment_allocation')),
        sa.UniqueConstraint(
            'payment_id', 'promise_id', name=op.f('uq_payment_allocation_payment_id_promise_id')
        ),
        sa.UniqueConstraint(
            'payment_id',
            'instalment_id',
            name=op.f('uq_payment_allocation_payment_id_instalment_id'),
        ),
    )
    with op.batch_alter_table('payment_allocation', schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f('ix_payment_allocation_payment_id'), ['payment_id'], unique=False
        )
        batch_op.create_index(
            batch_op.f('ix_payment_allocation_promise_id'), ['promise_id'], unique=False
        )
        batch_op.create_index(
            batch_op.f('ix_payment_allocation_instalment_id'), ['instalment_id'], unique=False
        )


def downgrade() -> None:
    op.drop_table('payment_allocation')
    with op.batch_alter_table('payment', schema=None) as batch_op:
        batch_op.drop_column('posted_on')
