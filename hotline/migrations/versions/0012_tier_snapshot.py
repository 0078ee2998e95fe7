"""Roll rates: the tier each account was in on a day, as the planning job found it.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-01 15:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'tier_snapshot',
        sa.Column('day', sa.Date(), nullable=False),
        sa.Column('account_id', sa.Integer(), nullable=False),
        sa.Column('tier_id', sa.Integer(), nullable=True),
        sa.Column('days_past_due', sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ['account_id'], ['card_account.id'],
            name=op.f('fk_tier_snapshot_account_id_card_account'), ondelete='CASCADE',
        ),
        sa.ForeignKeyConstraint(
            ['tier_id'], ['delinquency_tier.id'],
            name=op.f('fk_tier_snapshot_tier_id_delinquency_tier'), ondelete='SET NULL',
        ),
        sa.PrimaryKeyConstraint('day', 'account_id', name=op.f('pk_tier_snapshot')),
    )


def downgrade() -> None:
    op.drop_table('tier_snapshot')
