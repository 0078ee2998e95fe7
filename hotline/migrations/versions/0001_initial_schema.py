"""Initial schema: cardholders, phones, accounts, money, arrangements, cases, calls, audit.

Revision ID: 0001
Revises: (none)
Create Date: 2026-11-23 08:41:10.227295
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

# The audit trail is append-only: the database itself refuses UPDATE and DELETE on it, and
# hotline.audit.verify_chain detects what a table owner could still do with the triggers off.
AUDIT_GUARD_SQLITE = (
    "CREATE TRIGGER audit_event_no_{op} BEFORE {OP} ON audit_event "
    "BEGIN SELECT RAISE(ABORT, 'audit_event is append-only'); END"
)
AUDIT_GUARD_POSTGRES_FUNCTION = """
CREATE FUNCTION audit_event_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_event is append-only';
END $$
"""
AUDIT_GUARD_POSTGRES_TRIGGER = (
    "CREATE TRIGGER audit_event_append_only BEFORE UPDATE OR DELETE ON audit_event "
    "FOR EACH ROW EXECUTE FUNCTION audit_event_append_only()"
)

revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('audit_event',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('seq', sa.BigInteger(), nullable=False),
    sa.Column('occurred_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('actor', sa.String(length=100), nullable=False),
    sa.Column('action', sa.String(length=64), nullable=False),
    sa.Column('entity_type', sa.String(length=32), nullable=False),
    sa.Column('entity_id', sa.String(length=64), nullable=False),
    sa.Column('data', sa.Text(), nullable=False),
    sa.Column('prev_hash', sa.String(length=64), nullable=False),
    sa.Column('hash', sa.String(length=64), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_event')),
    sa.UniqueConstraint('prev_hash', name=op.f('uq_audit_event_prev_hash')),
    sa.UniqueConstraint('seq', name=op.f('uq_audit_event_seq'))
    )
    op.create_table('cardholder',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('language', sa.Enum('en', 'zh-CN', name='language', native_enum=False, create_constraint=True, length=32), nullable=False),
    sa.Column('address_region', sa.String(length=32), nullable=True),
    sa.Column('postal_code', sa.String(length=16), nullable=True),
    sa.Column('country', sa.String(length=2), nullable=False),
    sa.Column('verify_salt', sa.String(length=32), nullable=False),
    sa.Column('verify_hash', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_cardholder'))
    )
    op.create_table('delinquency_tier',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('code', sa.String(length=32), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('min_days_past_due', sa.Integer(), nullable=False),
    sa.Column('max_days_past_due', sa.Integer(), nullable=True),
    sa.CheckConstraint('max_days_past_due IS NULL OR max_days_past_due >= min_days_past_due', name=op.f('ck_delinquency_tier_max_not_below_min')),
    sa.CheckConstraint('min_days_past_due >= 0', name=op.f('ck_delinquency_tier_min_not_negative')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_delinquency_tier')),
    sa.UniqueConstraint('code', name=op.f('uq_delinquency_tier_code'))
    )
    op.create_table('campaign',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('tier_id', sa.Integer(), nullable=False),
    sa.Column('profile', sa.String(length=32), nullable=False),
    sa.Column('status', sa.Enum('draft', 'active', 'paused', 'finished', name='campaign_status', native_enum=False, create_constraint=True, length=32), nullable=False),
    sa.Column('caller_id', sa.String(length=16), nullable=False),
    sa.Column('max_attempts_per_account', sa.Integer(), nullable=False),
    sa.Column('starts_on', sa.Date(), nullable=True),
    sa.Column('ends_on', sa.Date(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['tier_id'], ['delinquency_tier.id'], name=op.f('fk_campaign_tier_id_delinquency_tier')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_campaign')),
    sa.UniqueConstraint('name', name=op.f('uq_campaign_name'))
    )
    op.create_table('card_account',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('account_number', sa.String(length=32), nullable=False),
    sa.Column('cardholder_id', sa.Integer(), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('balance_minor', sa.BigInteger(), nullable=False),
    sa.Column('minimum_due_minor', sa.BigInteger(), nullable=False),
    sa.Column('past_due_minor', sa.BigInteger(), nullable=False),
    sa.Column('due_date', sa.Date(), nullable=False),
    sa.Column('days_past_due', sa.Integer(), nullable=False),
    sa.Column('self_service_locked_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint('balance_minor >= 0', name=op.f('ck_card_account_balance_not_negative')),
    sa.CheckConstraint('days_past_due >= 0', name=op.f('ck_card_account_days_past_due_not_negative')),
    sa.CheckConstraint('minimum_due_minor >= 0', name=op.f('ck_card_account_minimum_due_not_negative')),
    sa.CheckConstraint('past_due_minor >= 0', name=op.f('ck_card_account_past_due_not_negative')),
    sa.ForeignKeyConstraint(['cardholder_id'], ['cardholder.id'], name=op.f('fk_card_account_cardholder_id_cardholder')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_card_account')),
    sa.UniqueConstraint('account_number', name=op.f('uq_card_account_account_number'))
    )
    with op.batch_alter_table('card_account', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_card_account_cardholder_id'), ['cardholder_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_card_account_days_past_due'), ['days_past_due'], unique=False)

    op.create_table('phone',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('cardholder_id', sa.Integer(), nullable=False),
    sa.Column('e164', sa.String(length=16), nullable=False),
    sa.Column('phone_type', sa.Enum('mobile', 'home', 'work', name='phone_type', native_enum=False, create_constraint=True, length=32), nullable=False),
    sa.Column('is_primary', sa.Boolean(), nullable=False),
    sa.Column('autodial_consent', sa.Boolean(), nullable=False),
    sa.Column('consent_changed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('consent_source', sa.Enum('import', 'ivr', 'agent', 'dialer', 'system', name='consent_source', native_enum=False, create_constraint=True, length=32), nullable=True),
    sa.Column('opted_out_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('opted_out_source', sa.Enum('import', 'ivr', 'agent', 'dialer', 'system', name='opted_out_source', native_enum=False, create_constraint=True, length=32), nullable=True),
    sa.Column('bad_number', sa.Boolean(), nullable=False),
    sa.Column('bad_number_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('removed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['cardholder_id'], ['cardholder.id'], name=op.f('fk_phone_cardholder_id_cardholder'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_phone')),
    sa.UniqueConstraint('cardholder_id', 'e164', name=op.f('uq_phone_cardholder_id_e164'))
    )
    with op.batch_alter_table('phone', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_phone_e164'), ['e164'], unique=False)

    op.create_table('account_flag',
    sa.Column('account_id', sa.Integer(), nullable=False),
    sa.Column('flag', sa.Enum('dnc', 'bankruptcy', 'deceased', 'attorney', 'dispute', 'cease', 'hardship', 'fraud', name='account_flag', native_enum=False, create_constraint=True, length=32), nullable=False),
    sa.Column('source', sa.Enum('import', 'ivr', 'agent', 'dialer', 'system', name='flag_source', native_enum=False, create_constraint=True, length=32), nullable=False),
    sa.Column('set_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['account_id'], ['card_account.id'], name=op.f('fk_account_flag_account_id_card_account'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('account_id', 'flag', name=op.f('pk_account_flag'))
    )
    op.create_table('contact_attempt',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('direction', sa.Enum('inbound', 'outbound', name='direction', native_enum=False, create_constraint=True, length=32), nullable=False),
    sa.Column('account_id', sa.Integer(), nullable=True),
    sa.Column('phone_id', sa.Integer(), nullable=True),
    sa.Column('number', sa.String(length=64), nullable=False),
    sa.Column('campaign_id', sa.Integer(), nullable=True),
    sa.Column('provider_call_sid', sa.String(length=34), nullable=True),
    sa.Column('status', sa.Enum('planned', 'dialing', 'queued', 'ringing', 'in-progress', 'completed', 'busy', 'no-answer', 'failed', 'canceled', 'skipped', name='attempt_status', native_enum=False, create_constraint=True, length=32), nullable=False),
    sa.Column('due_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('worker_id', sa.String(length=64), nullable=True),
    sa.Column('lease_until', sa.DateTime(timezone=True), nullable=True),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('answered_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('ended_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('answered_by', sa.String(length=32), nullable=True),
    sa.Column('duration_seconds', sa.Integer(), nullable=True),
    sa.Column('disposition', sa.String(length=64), nullable=True),
    sa.Column('error_code', sa.String(length=16), nullable=True),
    sa.Column('error_message', sa.String(length=500), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['account_id'], ['card_account.id'], name=op.f('fk_contact_attempt_account_id_card_account')),
    sa.ForeignKeyConstraint(['campaign_id'], ['campaign.id'], name=op.f('fk_contact_attempt_campaign_id_campaign')),
    sa.ForeignKeyConstraint(['phone_id'], ['phone.id'], name=op.f('fk_contact_attempt_phone_id_phone')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_contact_attempt')),
    sa.UniqueConstraint('provider_call_sid', name=op.f('uq_contact_attempt_provider_call_sid'))
    )
    with op.batch_alter_table('contact_attempt', schema=None) as batch_op:
        batch_op.create_index('ix_contact_attempt_account_started', ['account_id', 'started_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_contact_attempt_campaign_id'), ['campaign_id'], unique=False)
        batch_op.create_index('ix_contact_attempt_due', ['status', 'due_at'], unique=False)

    op.create_table('payment',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('account_id', sa.Integer(), nullable=False),
    sa.Column('amount_minor', sa.BigInteger(), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('source', sa.Enum('import', 'ivr', 'agent', 'dialer', 'system', name='payment_source', native_enum=False, create_constraint=True, length=32), nullable=False),
    sa.Column('status', sa.Enum('pending', 'posted', 'failed', 'reversed', name='payment_status', native_enum=False, create_constraint=True, length=32), nullable=False),
    sa.Column('idempotency_key', sa.String(length=200), nullable=False),
    sa.Column('processor_confirmation', sa.String(length=100), nullable=True),
    sa.Column('card_brand', sa.String(length=20), nullable=True),
    sa.Column('card_last4', sa.String(length=4), nullable=True),
    sa.Column('call_sid', sa.String(length=34), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('posted_at', sa.DateTime(timezone=True), nullable=True),
    sa.CheckConstraint('amount_minor > 0', name=op.f('ck_payment_amount_positive')),
    sa.ForeignKeyConstraint(['account_id'], ['card_account.id'], name=op.f('fk_payment_account_id_card_account')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_payment')),
    sa.UniqueConstraint('idempotency_key', name=op.f('uq_payment_idempotency_key'))
    )
    with op.batch_alter_table('payment', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_payment_account_id'), ['account_id'], unique=False)

    op.create_table('promise_to_pay',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('account_id', sa.Integer(), nullable=False),
    sa.Column('amount_minor', sa.BigInteger(), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('promised_date', sa.Date(), nullable=False),
    sa.Column('status', sa.Enum('pending', 'kept', 'broken', 'cancelled', name='promise_status', native_enum=False, create_constraint=True, length=32), nullable=False),
    sa.Column('source', sa.Enum('import', 'ivr', 'agent', 'dialer', 'system', name='promise_source', native_enum=False, create_constraint=True, length=32), nullable=False),
    sa.Column('call_sid', sa.String(length=34), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('resolved_at', sa.DateTime(timezone=True), nullable=True),
    sa.CheckConstraint('amount_minor > 0', name=op.f('ck_promise_to_pay_amount_positive')),
    sa.ForeignKeyConstraint(['account_id'], ['card_account.id'], name=op.f('fk_promise_to_pay_account_id_card_account')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_promise_to_pay'))
    )
    with op.batch_alter_table('promise_to_pay', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_promise_to_pay_account_id'), ['account_id'], unique=False)

    op.create_table('repayment_plan',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('account_id', sa.Integer(), nullable=False),
    sa.Column('instalment_count', sa.Integer(), nullable=False),
    sa.Column('total_minor', sa.BigInteger(), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('start_date', sa.Date(), nullable=False),
    sa.Column('status', sa.Enum('active', 'completed', 'broken', 'cancelled', name='plan_status', native_enum=False, create_constraint=True, length=32), nullable=False),
    sa.Column('source', sa.Enum('import', 'ivr', 'agent', 'dialer', 'system', name='plan_source', native_enum=False, create_constraint=True, length=32), nullable=False),
    sa.Column('call_sid', sa.String(length=34), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint('instalment_count > 0', name=op.f('ck_repayment_plan_instalments_positive')),
    sa.CheckConstraint('total_minor > 0', name=op.f('ck_repayment_plan_total_positive')),
    sa.ForeignKeyConstraint(['account_id'], ['card_account.id'], name=op.f('fk_repayment_plan_account_id_card_account')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_repayment_plan'))
    )
    with op.batch_alter_table('repayment_plan', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_repayment_plan_account_id'), ['account_id'], unique=False)

    op.create_table('service_case',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('account_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.Enum('dispute', 'complaint', 'hardship', 'fee-waiver', name='case_kind', native_enum=False, create_constraint=True, length=32), nullable=False),
    sa.Column('status', sa.Enum('open', 'in-progress', 'resolved', 'closed', name='case_status', native_enum=False, create_constraint=True, length=32), nullable=False),
    sa.Column('owner', sa.String(length=100), nullable=True),
    sa.Column('summary', sa.Text(), nullable=False),
    sa.Column('source', sa.Enum('import', 'ivr', 'agent', 'dialer', 'system', name='case_source', native_enum=False, create_constraint=True, length=32), nullable=False),
    sa.Column('call_sid', sa.String(length=34), nullable=True),
    sa.Column('opened_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('resolved_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('resolution', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['account_id'], ['card_account.id'], name=op.f('fk_service_case_account_id_card_account')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_service_case'))
    )
    with op.batch_alter_table('service_case', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_service_case_account_id'), ['account_id'], unique=False)

    op.create_table('call_event',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('call_sid', sa.String(length=34), nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('sequence', sa.String(length=64), nullable=False),
    sa.Column('attempt_id', sa.Integer(), nullable=True),
    sa.Column('payload', sa.Text(), nullable=False),
    sa.Column('received_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['attempt_id'], ['contact_attempt.id'], name=op.f('fk_call_event_attempt_id_contact_attempt')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_call_event')),
    sa.UniqueConstraint('call_sid', 'kind', 'sequence', name=op.f('uq_call_event_call_sid_kind_sequence'))
    )
    op.create_table('plan_instalment',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('plan_id', sa.Integer(), nullable=False),
    sa.Column('sequence', sa.Integer(), nullable=False),
    sa.Column('due_date', sa.Date(), nullable=False),
    sa.Column('amount_minor', sa.BigInteger(), nullable=False),
    sa.Column('status', sa.Enum('due', 'paid', 'missed', name='instalment_status', native_enum=False, create_constraint=True, length=32), nullable=False),
    sa.Column('paid_at', sa.DateTime(timezone=True), nullable=True),
    sa.CheckConstraint('amount_minor > 0', name=op.f('ck_plan_instalment_amount_positive')),
    sa.ForeignKeyConstraint(['plan_id'], ['repayment_plan.id'], name=op.f('fk_plan_instalment_plan_id_repayment_plan'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_plan_instalment')),
    sa.UniqueConstraint('plan_id', 'sequence', name=op.f('uq_plan_instalment_plan_id_sequence'))
    )

    if op.get_bind().dialect.name == "postgresql":
        op.execute(AUDIT_GUARD_POSTGRES_FUNCTION)
        op.execute(AUDIT_GUARD_POSTGRES_TRIGGER)
    else:
        for name in ("update", "delete"):
            op.execute(AUDIT_GUARD_SQLITE.format(op=name, OP=name.upper()))


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS audit_event_append_only ON audit_event")
        op.execute("DROP FUNCTION IF EXISTS audit_event_append_only()")

    op.drop_table('plan_instalment')
    op.drop_table('call_event')
    with op.batch_alter_table('service_case', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_service_case_account_id'))

    op.drop_table('service_case')
    with op.batch_alter_table('repayment_plan', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_repayment_plan_account_id'))

    op.drop_table('repayment_plan')
    with op.batch_alter_table('promise_to_pay', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_promise_to_pay_account_id'))

    op.drop_table('promise_to_pay')
    with op.batch_alter_table('payment', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_payment_account_id'))

    op.drop_table('payment')
    with op.batch_alter_table('contact_attempt', schema=None) as batch_op:
        batch_op.drop_index('ix_contact_attempt_due')
        batch_op.drop_index(batch_op.f('ix_contact_attempt_campaign_id'))
        batch_op.drop_index('ix_contact_attempt_account_started')

    op.drop_table('contact_attempt')
    op.drop_table('account_flag')
    with op.batch_alter_table('phone', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_phone_e164'))

    op.drop_table('phone')
    with op.batch_alter_table('card_account', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_card_account_days_past_due'))
        batch_op.drop_index(batch_op.f('ix_card_account_cardholder_id'))

    op.drop_table('card_account')
    op.drop_table('campaign')
    op.drop_table('delinquency_tier')
    op.drop_table('cardholder')
    op.drop_table('audit_event')

