"""Credit on accounts (a payment larger than the balance), and when an agent last
unlocked phone self-service (failures before it no longer count toward a lock).

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01 09:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('card_account', schema=None) as batch_op:
        batch_op.add_column(
            sa.Column('credit_minor', sa.BigInteger(), nullable=False, server_default='0')
        )
        batch_op.add_column(
            sa.Column('verification_reset_at', sa.DateTime(timezone=True), nullable=True)
        )
        batch_op.create_check_constraint(op.f('ck_card_account_credit_not_negative'), 'credit_minor >= 0')


def downgrade() -> None:
    with op.batch_alter_table('card_account', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_card_account_credit_not_negative'), type_='check')
        batch_op.drop_column('verification_reset_at')
        batch_op.drop_column('credit_minor')
