"""Campaigns as the dialer's planner reads them: several tiers per campaign with their
settings, each account's current tier, the decision stored with each planned attempt, one
open campaign attempt per account, and the hours a cardholder asked to be called in.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01 12:00:00.000000

- campaign: tier_id goes (a campaign now covers tiers through campaign_tier); settings
  (JSON text: description and audience) and updated_at come.
- campaign_tier: (campaign, tier) -> the tier's settings as JSON text. JSON rather than a
  dozen columns: the planner and the dialer read a tier's settings whole, nothing queries
  by them, and the pure record dialer.campaigns.TierSettings checks them on the way in
  (the file) and on the way out (from_json), so the shape lives in one place.
- card_account.tier_id: the tier its days past due put it in, refreshed by the planner.
- contact_attempt.tier_id, .decision: the tier planned for and the policy's decision.
- uq_contact_attempt_open_per_account: a partial unique index (SQLite and PostgreSQL both
  have them): at most one open (planned, dialing, queued, ringing, in-progress) campaign
  attempt per account, whatever runs concurrently.
- phone.allowed_hours_start/_end/_source/_set_at: the cardholder's allowed-hours preference;
  phone.under_review_at: a wrong party answered, not dialled until reviewed;
  phone.time_zones/_version: the numbering plan's zones, looked up once per number (and
  again when phonenumbers' data changes) instead of on every planning run.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None

OPEN = (
    "campaign_id IS NOT NULL AND status IN "
    "('planned', 'dialing', 'queued', 'ringing', 'in-progress')"
)
SOURCES = ('import', 'ivr', 'agent', 'dialer', 'system')
HOURS_ORDERED = (
    "(allowed_hours_start IS NULL AND allowed_hours_end IS NULL) OR "
    "(allowed_hours_start IS NOT NULL AND allowed_hours_end IS NOT NULL "
    "AND allowed_hours_start < allowed_hours_end)"
)


def upgrade() -> None:
    op.create_table(
        'campaign_tier',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('campaign_id', sa.Integer(), nullable=False),
        sa.Column('tier_id', sa.Integer(), nullable=False),
        sa.Column('settings', sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ['campaign_id'], ['campaign.id'],
            name=op.f('fk_campaign_tier_campaign_id_campaign'), ondelete='CASCADE',
        ),
        sa.ForeignKeyConstraint(
            ['tier_id'], ['delinquency_tier.id'],
            name=op.f('fk_campaign_tier_tier_id_delinquency_tier'), ondelete='CASCADE',
        ),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_campaign_tier')),
        sa.UniqueConstraint('campaign_id', 'tier_id', name=op.f('uq_campaign_tier_campaign_id_tier_id')),
    )
    op.create_index(op.f('ix_campaign_tier_tier_id'), 'campaign_tier', ['tier_id'], unique=False)
    with op.batch_alter_table('campaign', schema=None) as batch_op:
        batch_op.drop_constraint('fk_campaign_tier_id_delinquency_tier', type_='foreignkey')
        batch_op.drop_column('tier_id')
        batch_op.add_column(sa.Column('settings', sa.Text(), server_default='{}', nullable=False))
        batch_op.add_column(sa.Column('updated_at', sa.DateTime(timezone=True), nullable=True))
    with op.batch_alter_table('card_account', schema=None) as batch_op:
        batch_op.add_column(sa.Column('tier_id', sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f('ix_card_account_tier_id'), ['tier_id'], unique=False)
        batch_op.create_foreign_key(
            batch_op.f('fk_card_account_tier_id_delinquency_tier'), 'delinquency_tier',
            ['tier_id'], ['id'], ondelete='SET NULL',
        )
    with op.batch_alter_table('contact_attempt', schema=None) as batch_op:
        batch_op.add_column(sa.Column('tier_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('decision', sa.Text(), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f('fk_contact_attempt_tier_id_delinquency_tier'), 'delinquency_tier',
            ['tier_id'], ['id'], ondelete='SET NULL',
        )
    op.create_index(
        'uq_contact_attempt_open_per_account', 'contact_attempt', ['account_id'], unique=True,
        sqlite_where=sa.text(OPEN), postgresql_where=sa.text(OPEN),
    )
    with op.batch_alter_table('phone', schema=None) as batch_op:
        batch_op.add_column(sa.Column('allowed_hours_start', sa.Time(), nullable=True))
        batch_op.add_column(sa.Column('allowed_hours_end', sa.Time(), nullable=True))
        batch_op.add_column(
            sa.Column(
                'allowed_hours_source',
                sa.Enum(*SOURCES, name='allowed_hours_source', native_enum=False,
                        create_constraint=True, length=32),
                nullable=True,
            )
        )
        batch_op.add_column(sa.Column('allowed_hours_set_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('under_review_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('time_zones', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('time_zones_version', sa.String(length=16), nullable=True))
        batch_op.create_check_constraint(op.f('ck_phone_allowed_hours_ordered'), HOURS_ORDERED)


def downgrade() -> None:
    with op.batch_alter_table('phone', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_phone_allowed_hours_ordered'), type_='check')
        batch_op.drop_constraint(op.f('ck_phone_allowed_hours_source'), type_='check')
        batch_op.drop_column('time_zones_version')
        batch_op.drop_column('time_zones')
        batch_op.drop_column('under_review_at')
        batch_op.drop_column('allowed_hours_set_at')
        batch_op.drop_column('allowed_hours_source')
        batch_op.drop_column('allowed_hours_end')
        batch_op.drop_column('allowed_hours_start')
    op.drop_index('uq_contact_attempt_open_per_account', table_name='contact_attempt')
    with op.batch_alter_table('contact_attempt', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_contact_attempt_tier_id_delinquency_tier'), type_='foreignkey')
        batch_op.drop_column('decision')
        batch_op.drop_column('tier_id')
    with op.batch_alter_table('card_account', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_card_account_tier_id_delinquency_tier'), type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_card_account_tier_id'))
        batch_op.drop_column('tier_id')
    # A campaign goes back to one tier: its first, or none (the campaign is dropped then).
    op.execute(
        "DELETE FROM campaign WHERE id NOT IN (SELECT campaign_id FROM campaign_tier)"
    )
    with op.batch_alter_table('campaign', schema=None) as batch_op:
        batch_op.add_column(sa.Column('tier_id', sa.Integer(), nullable=True))
    op.execute(
        "UPDATE campaign SET tier_id = (SELECT min(tier_id) FROM campaign_tier "
        "WHERE campaign_tier.campaign_id = campaign.id)"
    )
    with op.batch_alter_table('campaign', schema=None) as batch_op:
        batch_op.alter_column('tier_id', existing_type=sa.Integer(), nullable=False)
        batch_op.create_foreign_key(
            'fk_campaign_tier_id_delinquency_tier', 'delinquency_tier', ['tier_id'], ['id']
        )
        batch_op.drop_column('updated_at')
        batch_op.drop_column('settings')
    op.drop_index(op.f('ix_campaign_tier_tier_id'), table_name='campaign_tier')
    op.drop_table('campaign_tier')
