"""payment.card_last4 holds exactly four ASCII digits, or nothing.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01 09:00:00.000000

One expression both databases read the same way: trim() with a character list exists in
SQLite and PostgreSQL, and compares code points, so '١٢٣٤' (Arabic-Indic digits) or '12 4'
fail where a collation-dependent BETWEEN '0' AND '9' might not. SQLite cannot add a
constraint to a table: batch mode (env.py) rebuilds it, keeping its other constraints.
"""

from __future__ import annotations

from alembic import op


revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None

CONDITION = "card_last4 IS NULL OR (length(card_last4) = 4 AND trim(card_last4, '0123456789') = '')"


def upgrade() -> None:
    with op.batch_alter_table('payment', schema=None) as batch_op:
        batch_op.create_check_constraint(batch_op.f('ck_payment_card_last4_four_digits'), CONDITION)


def downgrade() -> None:
    with op.batch_alter_table('payment', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('ck_payment_card_last4_four_digits'), type_='check')
