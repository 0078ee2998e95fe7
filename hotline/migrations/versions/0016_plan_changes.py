"""The planning change feed: a row per cardholder whose planning facts changed.

The planning job's memo (dialer/plan_memo.py) skips the accounts whose schedule it knows;
to know that an account's facts are as they were, it read them all again on every run
(two thirds of a run over 10,000 accounts). The database now says which changed: a
trigger on each table the planner's loader reads (dialer/facts.py) writes the cardholder
of every row inserted, updated or deleted into plan_change, whatever wrote it (the IVR,
an import, an agent, the dialer itself). Written by triggers rather than by the code that
writes those tables, so that no write path can forget it.

- SQLite: a trigger per row and event; rows by id (AUTOINCREMENT: never reused).
- PostgreSQL: a trigger per statement, over its transition tables (a planning run's
  million inserts make one INSERT ... SELECT here, not a million); each row carries the
  writer's transaction id (`xact`), which is how it is read (dialer/plan_changes.py).
- `changed_at` (the database's clock) is how old rows are let go.
- plan_change_epoch holds one token, made anew by this migration and, on PostgreSQL, by a
  TRUNCATE of any of those tables (which fires no row trigger): a memo that finds another
  token than the one it read starts over, as after a downgrade, an upgrade and whatever
  was written between (no trigger saw it). The triggers fire whatever the session's
  replication role (ENABLE ALWAYS: a restore or a replica's apply writes through them).

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-03 07:00:00
"""

from __future__ import annotations

import uuid

import sqlalchemy as sa
from alembic import op


revision = '0016'
down_revision = '0015'
branch_labels = None
depends_on = None

# Each table the loader reads, and how a row of it names its cardholder: directly (the
# column), or through its account (card_account.cardholder_id of `account_id`).
DIRECT = {'card_account': 'cardholder_id', 'phone': 'cardholder_id', 'cardholder': 'id'}
THROUGH_ACCOUNT = ('account_flag', 'service_case', 'contact_attempt', 'text_message', 'ivr_call')
TABLES = (*DIRECT, *THROUGH_ACCOUNT)


def _sqlite_holder(table: str, row: str) -> str:
    """SELECT body: the cardholder of `row` (NEW or OLD) of `table`."""
    if table in DIRECT:
        return f"{row}.{DIRECT[table]}"
    return f"cardholder_id FROM card_account WHERE id = {row}.account_id"


def _sqlite_triggers(table: str) -> list[str]:
    insert = "INSERT INTO plan_change (cardholder_id) SELECT "
    key = DIRECT.get(table, 'account_id')
    moved = "WHERE" if table in DIRECT else "AND"
    return [
        f"CREATE TRIGGER plan_change_{table}_insert AFTER INSERT ON {table} "
        f"BEGIN {insert}{_sqlite_holder(table, 'NEW')}; END",
        # The old cardholder too, when a row moved to another (an account re-parented).
        f"CREATE TRIGGER plan_change_{table}_update AFTER UPDATE ON {table} "
        f"BEGIN {insert}{_sqlite_holder(table, 'NEW')}; "
        f"{insert}{_sqlite_holder(table, 'OLD')} {moved} OLD.{key} IS NOT NEW.{key}; END",
        f"CREATE TRIGGER plan_change_{table}_delete AFTER DELETE ON {table} "
        f"BEGIN {insert}{_sqlite_holder(table, 'OLD')}; END",
    ]


def _postgres_holders(table: str, rows: str) -> str:
    """SELECT list and FROM: the cardholders of the transition table `rows`."""
    if table in DIRECT:
        return f"r.{DIRECT[table]} FROM {rows} r"
    return f"ca.cardholder_id FROM {rows} r JOIN card_account ca ON ca.id = r.account_id"


def _postgres_function(table: str) -> str:
    insert = "INSERT INTO plan_change (cardholder_id) SELECT "
    return f"""
CREATE FUNCTION plan_change_{table}() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        {insert}DISTINCT {_postgres_holders(table, 'new_rows')};
    ELSIF TG_OP = 'UPDATE' THEN
        {insert}{_postgres_holders(table, 'new_rows')}
        UNION SELECT {_postgres_holders(table, 'old_rows')};
    ELSE
        {insert}DISTINCT {_postgres_holders(table, 'old_rows')};
    END IF;
    RETURN NULL;
END $$
"""


EVERYTHING_FUNCTION = """
CREATE FUNCTION plan_change_everything() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO plan_change_epoch (id, token) VALUES (1, gen_random_uuid()::text)
    ON CONFLICT (id) DO UPDATE SET token = EXCLUDED.token;
    RETURN NULL;
END $$
"""
EVENTS = ('insert', 'update', 'delete', 'truncate')
# The feed's own rows may go only once old (the planner deletes those older than 7 days;
# a memo trusts what it read for a day): emptying it, or deleting younger rows, makes a
# new epoch, so no memo goes on past changes it will never read.
FEED_GUARD_POSTGRES = [
    """
CREATE FUNCTION plan_change_young_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM old_rows WHERE changed_at > now() - interval '6 days') THEN
        INSERT INTO plan_change_epoch (id, token) VALUES (1, gen_random_uuid()::text)
        ON CONFLICT (id) DO UPDATE SET token = EXCLUDED.token;
    END IF;
    RETURN NULL;
END $$
""",
    "CREATE TRIGGER plan_change_young_deleted AFTER DELETE ON plan_change "
    "REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT "
    "EXECUTE FUNCTION plan_change_young_deleted()",
    *(
        f"CREATE TRIGGER {table}_truncate AFTER TRUNCATE ON {table} "
        "FOR EACH STATEMENT EXECUTE FUNCTION plan_change_everything()"
        for table in ('plan_change', 'plan_change_epoch')
    ),
    *(
        f"ALTER TABLE {table} ENABLE ALWAYS TRIGGER {name}"
        for table, name in (
            ('plan_change', 'plan_change_young_deleted'),
            ('plan_change', 'plan_change_truncate'),
            ('plan_change_epoch', 'plan_change_epoch_truncate'),
        )
    ),
]
FEED_GUARD_SQLITE = (
    "CREATE TRIGGER plan_change_young_deleted AFTER DELETE ON plan_change "
    "WHEN OLD.changed_at > datetime('now', '-6 days') "
    "BEGIN UPDATE plan_change_epoch SET token = lower(hex(randomblob(16))); END"
)


def _postgres_triggers(table: str) -> list[str]:
    run = f"FOR EACH STATEMENT EXECUTE FUNCTION plan_change_{table}()"
    return [
        f"CREATE TRIGGER plan_change_{table}_insert AFTER INSERT ON {table} "
        f"REFERENCING NEW TABLE AS new_rows {run}",
        f"CREATE TRIGGER plan_change_{table}_update AFTER UPDATE ON {table} "
        f"REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows {run}",
        f"CREATE TRIGGER plan_change_{table}_delete AFTER DELETE ON {table} "
        f"REFERENCING OLD TABLE AS old_rows {run}",
        f"CREATE TRIGGER plan_change_{table}_truncate AFTER TRUNCATE ON {table} "
        "FOR EACH STATEMENT EXECUTE FUNCTION plan_change_everything()",
        *(
            f"ALTER TABLE {table} ENABLE ALWAYS TRIGGER plan_change_{table}_{event}"
            for event in EVENTS
        ),
    ]


def upgrade() -> None:
    postgresql = op.get_bind().dialect.name == "postgresql"
    op.create_table(
        'plan_change',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('cardholder_id', sa.Integer(), nullable=False),
        # The writer's transaction (PostgreSQL's pg_current_xact_id); NULL on SQLite.
        sa.Column(
            'xact',
            sa.BigInteger(),
            server_default=sa.text("(pg_current_xact_id()::text::bigint)") if postgresql else None,
            nullable=True,
        ),
        sa.Column(
            'changed_at',
            sa.DateTime(timezone=True),
            server_default=sa.text('CURRENT_TIMESTAMP'),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_plan_change')),
        sqlite_autoincrement=True,
    )
    op.create_index(op.f('ix_plan_change_xact'), 'plan_change', ['xact'], unique=False)
    op.create_index(op.f('ix_plan_change_changed_at'), 'plan_change', ['changed_at'], unique=False)
    epoch = op.create_table(
        'plan_change_epoch',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('token', sa.String(length=36), nullable=False),
        sa.CheckConstraint('id = 1', name=op.f('ck_plan_change_epoch_one_row')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_plan_change_epoch')),
    )
    op.bulk_insert(epoch, [{'id': 1, 'token': str(uuid.uuid4())}])
    if postgresql:
        op.execute(EVERYTHING_FUNCTION)
        for statement in FEED_GUARD_POSTGRES:
            op.execute(statement)
    else:
        op.execute(FEED_GUARD_SQLITE)
    for table in TABLES:
        if postgresql:
            op.execute(_postgres_function(table))
            for statement in _postgres_triggers(table):
                op.execute(statement)
        else:
            for statement in _sqlite_triggers(table):
                op.execute(statement)


def downgrade() -> None:
    postgresql = op.get_bind().dialect.name == "postgresql"
    for table in TABLES:
        for event in EVENTS:
            on = f" ON {table}" if postgresql else ""
            op.execute(f"DROP TRIGGER IF EXISTS plan_change_{table}_{event}{on}")
        if postgresql:
            op.execute(f"DROP FUNCTION IF EXISTS plan_change_{table}()")
    op.execute(
        "DROP TRIGGER IF EXISTS plan_change_young_deleted" + (" ON plan_change" if postgresql else "")
    )
    if postgresql:
        op.execute("DROP TRIGGER IF EXISTS plan_change_truncate ON plan_change")
        op.execute("DROP TRIGGER IF EXISTS plan_change_epoch_truncate ON plan_change_epoch")
        op.execute("DROP FUNCTION IF EXISTS plan_change_young_deleted()")
        op.execute("DROP FUNCTION IF EXISTS plan_change_everything()")
    op.drop_table('plan_change_epoch')
    op.drop_index(op.f('ix_plan_change_changed_at'), table_name='plan_change')
    op.drop_index(op.f('ix_plan_change_xact'), table_name='plan_change')
    op.drop_table('plan_change')
