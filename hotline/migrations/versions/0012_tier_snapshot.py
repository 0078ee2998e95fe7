"""Roll rates: the tier each account was in on a day, as the planning job found it.

Revision ID: 0012
Revises: 0010 (the desk foundation's; after 0011 once the agent desk's lands)
Create Date: 2026-12-01 15:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = '0012'
# The revision before this one on the branch it was written on (desk-sup); when the
# branches land, it follows whichever migration is then the newest.
down_revision = '0010'
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
