"""The pacing slot each claim of an attempt took; payments found by their posting day.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-01 18:00:00

contact_attempt gains slot_at: the moment the pacing bucket gave the current claim
(dialer/claims.py), written with the claim in one transaction. The call goes at it, never
before; so the slots of the calls placed show, from the database alone, that every dialer
process together kept to the calls-per-second limit. payment gains an index on posted_on:
the KPIs count a bank file's payments on the day the bank posted them (hotline/kpis.py).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = '0014'
down_revision = '0013'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('contact_attempt', schema=None) as batch_op:
        batch_op.add_column(sa.Column('slot_at', sa.DateTime(timezone=True), nullable=True))
    op.create_index('ix_payment_posted_on', 'payment', ['posted_on'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_payment_posted_on', table_name='payment')
    with op.batch_alter_table('contact_attempt', schema=None) as batch_op:
        batch_op.drop_column('slot_at')
