"""Indexes for the dialer's and the texts job's lookups that scanned growing tables.

- contact_attempt (status, provider_call_sid): reconcile's claims left without a CallSid
  (`status = 'dialing' AND provider_call_sid IS NULL`). SQLite took the CallSid's unique
  index for `IS NULL`, which holds every attempt never placed (each planned, skipped or
  cancelled one): a scan run every tick that grew with the queue.
- text_message (status, provider_sid): the same for texts whose sending is unknown.
- promise_to_pay (status, promised_date) and (status, resolved_at), plan_instalment
  (status, due_date): the texts job's reminders and thank-yous, every run, by state and
  date, where a whole table was scanned.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-01 18:00:00
"""

from __future__ import annotations

from alembic import op


revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None

INDEXES = (
    ('ix_contact_attempt_status_sid', 'contact_attempt', ['status', 'provider_call_sid']),
    ('ix_text_message_status_sid', 'text_message', ['status', 'provider_sid']),
    ('ix_promise_to_pay_status_date', 'promise_to_pay', ['status', 'promised_date']),
    ('ix_promise_to_pay_status_resolved', 'promise_to_pay', ['status', 'resolved_at']),
    ('ix_plan_instalment_status_due', 'plan_instalment', ['status', 'due_date']),
)


def upgrade() -> None:
    for name, table, columns in INDEXES:
        op.create_index(name, table, columns, unique=False)


def downgrade() -> None:
    for name, table, _ in reversed(INDEXES):
        op.drop_index(name, table_name=table)
