"""The dialer's placement state on contact attempts, and the shared pacing table.

Revision ID: 0006
Revises: 0004 (to be re-chained onto 0005, the planning migration, when both land)
Create Date: 2026-12-01 12:00:00

contact_attempt gains claimed_at (the start of the window in which the carrier is asked
for a call whose CallSid a crashed dialer never stored), placed_at, dial_retries (the
backoff exponent after a 429 or 5xx) and carrier_checked_at (reconcile). dialer_pacing
holds each pacing scope's limits and the next free slot, locked by every claim.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('contact_attempt', schema=None) as batch_op:
        batch_op.add_column(sa.Column('claimed_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('placed_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(
            sa.Column('dial_retries', sa.Integer(), nullable=False, server_default='0')
        )
        batch_op.add_column(
            sa.Column('carrier_checked_at', sa.DateTime(timezone=True), nullable=True)
        )
    op.create_table(
        'dialer_pacing',
        sa.Column('scope', sa.String(length=64), nullable=False),
        sa.Column('campaign_id', sa.Integer(), nullable=True),
        sa.Column('calls_per_second', sa.Float(), nullable=False),
        sa.Column('max_concurrent', sa.Integer(), nullable=False),
        sa.Column('next_slot_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint('calls_per_second > 0', name=op.f('ck_dialer_pacing_rate_positive')),
        sa.CheckConstraint(
            'max_concurrent > 0', name=op.f('ck_dialer_pacing_concurrency_positive')
        ),
        sa.ForeignKeyConstraint(
            ['campaign_id'],
            ['campaign.id'],
            name=op.f('fk_dialer_pacing_campaign_id_campaign'),
            ondelete='CASCADE',
        ),
        sa.PrimaryKeyConstraint('scope', name=op.f('pk_dialer_pacing')),
        sa.UniqueConstraint('campaign_id', name=op.f('uq_dialer_pacing_campaign_id')),
    )


def downgrade() -> None:
    op.drop_table('dialer_pacing')
    with op.batch_alter_table('contact_attempt', schema=None) as batch_op:
        batch_op.drop_column('carrier_checked_at')
        batch_op.drop_column('dial_retries')
        batch_op.drop_column('placed_at')
        batch_op.drop_column('claimed_at')
