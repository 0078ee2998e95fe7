"""Outbound calls: who marked a phone for review after a wrong party (0005 added when), and
the attempt as the call's row (its flow state and what the callee heard).

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01 12:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None

SOURCES = ('import', 'ivr', 'agent', 'dialer', 'system')


def upgrade() -> None:
    with op.batch_alter_table('phone', schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                'review_source',
                sa.Enum(*SOURCES, name='review_source', native_enum=False, create_constraint=True, length=32),
                nullable=True,
            )
        )
    with op.batch_alter_table('contact_attempt', schema=None) as batch_op:
        batch_op.add_column(sa.Column('call_state', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('said', sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('contact_attempt', schema=None) as batch_op:
        batch_op.drop_column('said')
        batch_op.drop_column('call_state')
    with op.batch_alter_table('phone', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('ck_phone_review_source'), type_='check')
        batch_op.drop_column('review_source')
