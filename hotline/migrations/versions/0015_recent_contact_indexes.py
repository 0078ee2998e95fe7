"""Indexes for the recent contacts the planner looks up as sets (dialer/plan_sets.py).

Planning as sets first finds every cardholder with a contact in the last 10 days; the calls
go by the attempts' indexes, the texts and the inbound calls scanned their whole tables,
which grow by a day's texts and calls every day:
- text_message (status, sent_at): the texts the caps count (sending, or sent since);
- ivr_call (started_at): the verified inbound calls since.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-01 19:30:00
"""

from __future__ import annotations

from alembic import op


revision = '0015'
down_revision = '0014'
branch_labels = None
depends_on = None

INDEXES = (
    ('ix_text_message_status_sent', 'text_message', ['status', 'sent_at']),
    ('ix_ivr_call_started', 'ivr_call', ['started_at']),
)


def upgrade() -> None:
    for name, table, columns in INDEXES:
        op.create_index(name, table, columns, unique=False)


def downgrade() -> None:
    for name, table, _ in reversed(INDEXES):
        op.drop_index(name, table_name=table)
