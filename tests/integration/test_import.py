"""Import on a real database: rows written, idempotence, and what an import may not undo."""

import datetime as dt
import io

import pytest
from sqlalchemy import func, select

from dialer.campaign_file import parse_campaign_file
from dialer.campaign_store import store_file
from dialer.planner import refresh_tiers
from hotline import audit
from hotline.csvrows import COLUMNS
from hotline.enums import AccountFlag, Source
from hotline.importer import import_accounts
from hotline.models import (
    AccountFlagRow,
    AuditEvent,
    CardAccount,
    Cardholder,
    DelinquencyTier,
    Phone,
)
from hotline.secrets import verify_digits_match
from tests.conftest import TEST_SECRET_KEY
from tests.integration.dialer_fixtures import ONE_CAMPAIGN, load_campaigns

NOW = dt.datetime(2026, 11, 23, 9, 0, tzinfo=dt.UTC)
ALICE = {
    "account_number": "4000000000000001",
    "name": "Alice Example",
    "language": "en",
    "phone": "(415) 555-0100",
    "phone_type": "mobile",
    "alt_phones": "+1 212 555 0101",
    "autodial_consent": "yes",
    "address_region": "CA",
    "postal_code": "94107",
    "country": "US",
    "currency": "USD",
    "balance": "1234.56",
    "minimum_due": "120.00",
    "past_due": "80.00",
    "due_date": "2026-11-01",
    "days_past_due": "22",
    "verify_digits": "94107",
    "flags": "hardship",
}
WANG = {
    **ALICE,
    "account_number": "6200000000000002",
    "name": "王芳",
    "language": "zh-CN",
    "phone": "13800138000",
    "alt_phones": "",
    "address_region": "BJ",
    "postal_code": "100086",
    "country": "CN",
    "currency": "CNY",
    "balance": "8800.00",
    "minimum_due": "500.00",
    "past_due": "0",
    "days_past_due": "0",
    "verify_digits": "100086",
    "flags": "",
}


def csv_of(*rows):
    lines = [",".join(COLUMNS)] + [",".join(f'"{r[c]}"' for c in COLUMNS) for r in rows]
    return io.StringIO("\n".join(lines) + "\n", newline="")


def run_import(Session, *rows, now=NOW):
    with Session.begin() as session:
        return import_accounts(
            session,
            csv_of(*rows),
            secret_key=TEST_SECRET_KEY,
            now=now,
            actor="test",
            source={"name": "accounts.csv"},
        )


def account(session, number):
    return session.scalars(select(CardAccount).where(CardAccount.account_number == number)).one()


def test_import_writes_cardholders_phones_accounts_and_flags(Session):
    report = run_import(Session, ALICE, WANG)
    assert report.summary() == {
        "rows_read": 2,
        "created": 2,
        "updated": 0,
        "unchanged": 0,
        "rejected": 0,
    }
    with Session() as session:
        alice = account(session, ALICE["account_number"])
        assert (alice.balance_minor, alice.minimum_due_minor, alice.past_due_minor) == (
            123456,
            12000,
            8000,
        )
        assert alice.due_date == dt.date(2026, 11, 1) and alice.days_past_due == 22
        assert alice.flag_set == {AccountFlag.HARDSHIP}
        holder = alice.cardholder
        assert holder.language == "en" and holder.address_region == "CA"
        assert [(p.e164, p.is_primary, p.autodial_consent) for p in holder.phones] == [
            ("+14155550100", True, True),
            ("+12125550101", False, True),
        ]
        assert holder.created_at == NOW  # aware UTC back from either backend
        wang = account(session, WANG["account_number"])
        assert wang.currency == "CNY" and wang.balance_minor == 880000
        assert wang.cardholder.phones[0].e164 == "+8613800138000"


def test_verification_digits_are_stored_only_as_a_keyed_hash(Session):
    run_import(Session, ALICE)
    with Session() as session:
        holder = account(session, ALICE["account_number"]).cardholder
        assert "94107" not in holder.verify_hash + holder.verify_salt
        assert verify_digits_match(TEST_SECRET_KEY, holder.verify_salt, "94107", holder.verify_hash)
        assert not verify_digits_match(
            TEST_SECRET_KEY, holder.verify_salt, "94108", holder.verify_hash
        )
        assert not verify_digits_match(
            "another-key-entirely", holder.verify_salt, "94107", holder.verify_hash
        )


def test_reimporting_the_same_file_changes_nothing(Session):
    run_import(Session, ALICE, WANG)
    with Session() as session:
        before = [
            (a.id, a.updated_at, a.cardholder.verify_hash)
            for a in session.scalars(select(CardAccount).order_by(CardAccount.id))
        ]
    report = run_import(Session, ALICE, WANG, now=NOW + dt.timedelta(days=1))
    assert report.summary()["unchanged"] == 2 and report.created == report.updated == 0
    with Session() as session:
        after = [
            (a.id, a.updated_at, a.cardholder.verify_hash)
            for a in session.scalars(select(CardAccount).order_by(CardAccount.id))
        ]
        assert after == before
        assert session.scalar(select(func.count()).select_from(Phone)) == 3
        # One audit event per import run, none per unchanged account.
        assert [e.action for e in session.scalars(select(AuditEvent).order_by(AuditEvent.seq))] == [
            "import.accounts",
            "import.accounts",
        ]


def test_an_updated_file_updates_the_rows_and_audits_what_changed(Session):
    run_import(Session, ALICE)
    changed = {
        **ALICE,
        "balance": "1000.00",
        "days_past_due": "35",
        "flags": "dispute",
        "verify_digits": "1111",
        "alt_phones": "",
    }
    report = run_import(Session, changed)
    assert report.updated == 1
    with Session() as session:
        alice = account(session, ALICE["account_number"])
        assert alice.balance_minor == 100000 and alice.days_past_due == 35
        assert alice.flag_set == {AccountFlag.DISPUTE}
        holder = alice.cardholder
        assert verify_digits_match(TEST_SECRET_KEY, holder.verify_salt, "1111", holder.verify_hash)
        alt = next(p for p in holder.phones if p.e164 == "+12125550101")
        assert alt.removed_at == NOW  # kept, so an opt-out on it would survive
        event = session.scalars(
            select(AuditEvent).where(AuditEvent.action == "account.updated")
        ).one()
        assert event.entity_id == ALICE["account_number"]
        assert '"balance_minor":[123456,100000]' in event.data
        assert '"verify_digits":true' in event.data and "1111" not in event.data
        assert audit.verify_chain(session).ok


def test_bad_rows_are_reported_by_line_and_the_good_ones_still_import(Session):
    bad_phone = {**ALICE, "account_number": "4000000000000003", "phone": "12"}
    bad_amount = {**ALICE, "account_number": "4000000000000004", "balance": "12,00"}
    report = run_import(Session, ALICE, bad_phone, WANG, bad_amount)
    assert [(e.line, e.column) for e in report.rejected] == [(3, "phone"), (5, "balance")]
    assert report.created == 2
    with Session() as session:
        numbers = set(session.scalars(select(CardAccount.account_number)))
        assert numbers == {ALICE["account_number"], WANG["account_number"]}


def test_an_import_does_not_regrant_consent_a_cardholder_revoked_on_the_line(Session):
    run_import(Session, ALICE)
    with Session.begin() as session:
        phone = session.scalars(select(Phone).where(Phone.e164 == "+14155550100")).one()
        phone.autodial_consent, phone.consent_source = False, Source.IVR
    report = run_import(Session, ALICE)
    assert any("revoked through ivr" in note for note in report.notes)
    with Session() as session:
        phone = session.scalars(select(Phone).where(Phone.e164 == "+14155550100")).one()
        assert phone.autodial_consent is False and phone.consent_source == Source.IVR


def test_an_import_keeps_flags_set_on_the_line_and_clears_only_its_own(Session):
    run_import(Session, ALICE)  # hardship, set by the import
    with Session.begin() as session:
        session.add(
            AccountFlagRow(
                account_id=account(session, ALICE["account_number"]).id,
                flag=AccountFlag.DISPUTE,
                source=Source.IVR,
                set_at=NOW,
            )
        )
    run_import(Session, {**ALICE, "flags": ""})
    with Session() as session:
        assert account(session, ALICE["account_number"]).flag_set == {AccountFlag.DISPUTE}


def test_an_account_moves_between_numbers_without_losing_an_opt_out(Session):
    run_import(Session, ALICE)
    with Session.begin() as session:
        phone = session.scalars(select(Phone).where(Phone.e164 == "+12125550101")).one()
        phone.opted_out_at, phone.opted_out_source = NOW, Source.IVR
    run_import(Session, {**ALICE, "alt_phones": ""})
    run_import(Session, ALICE)  # the number comes back
    with Session() as session:
        phone = session.scalars(select(Phone).where(Phone.e164 == "+12125550101")).one()
        assert phone.removed_at is None and phone.opted_out_at == NOW


@pytest.mark.parametrize("chunk_size", [1, 3])
def test_chunking_does_not_change_the_result(Session, chunk_size):
    rows = [{**ALICE, "account_number": f"40000000000001{i:02d}"} for i in range(7)]
    with Session.begin() as session:
        report = import_accounts(
            session,
            csv_of(*rows),
            secret_key=TEST_SECRET_KEY,
            now=NOW,
            actor="test",
            source={},
            chunk_size=chunk_size,
        )
    assert report.created == 7
    with Session() as session:
        assert session.scalar(select(func.count()).select_from(Cardholder)) == 7
        assert session.scalar(select(func.count()).select_from(Phone)) == 14


def test_the_summary_adds_up_to_the_data_rows_of_the_file(Session):
    """Every data row is exactly one of created, updated, unchanged or rejected."""
    run_import(Session, ALICE, WANG)
    changed_wang = {**WANG, "balance": "9000.00"}
    new = {**ALICE, "account_number": "4000000000000010"}
    bad = {**ALICE, "account_number": "4000000000000011", "phone": "12", "balance": "x"}
    lines = [",".join(COLUMNS)] + [
        ",".join(f'"{r[c]}"' for c in COLUMNS) for r in (ALICE, changed_wang, new, bad, new)
    ]
    unclosed = ",".join(ALICE[c] for c in COLUMNS).replace("4000000000000001", "4000000000000012")
    lines.insert(3, unclosed.replace("Alice Example", '"Alice Example'))
    lines.insert(5, "")  # a blank line is not a row
    text = "\n".join(lines) + "\n"
    with Session.begin() as session:
        report = import_accounts(
            session,
            io.StringIO(text, newline=""),
            secret_key=TEST_SECRET_KEY,
            now=NOW,
            actor="test",
            source={},
        )
    summary = report.summary()
    assert summary == {
        "rows_read": 6,
        "created": 1,
        "updated": 1,
        "unchanged": 1,
        "rejected": 3,  # the unclosed quote, the bad row (two fields), the repeat
    }
    parts = summary["created"] + summary["updated"] + summary["unchanged"] + summary["rejected"]
    assert parts == summary["rows_read"]
    assert sorted({(e.line, e.column) for e in report.rejected}) == [
        (4, "(row)"),
        (7, "balance"),
        (7, "phone"),
        (8, "account_number"),
    ]


def test_the_import_writes_each_accounts_tier_with_its_days_past_due(Session):
    """Tiers that exist when the file comes are written with it: planning's refresh then
    finds nothing to move."""
    load_campaigns(Session)  # tiers early (1-29) and mid (30-59)
    run_import(Session, ALICE, WANG)

    def tiers():
        with Session() as session:
            return dict(
                session.execute(
                    select(CardAccount.account_number, CardAccount.tier_id).order_by(
                        CardAccount.account_number
                    )
                ).all()
            )

    with Session() as session:
        early, mid = session.scalars(
            select(DelinquencyTier.id).order_by(DelinquencyTier.min_days_past_due)
        ).all()
    assert tiers() == {ALICE["account_number"]: early, WANG["account_number"]: None}
    with Session.begin() as session:
        assert refresh_tiers(session) == 0
    # The next day's file: Alice rolls into the next tier, Wang falls behind.
    run_import(Session, {**ALICE, "days_past_due": "31"}, {**WANG, "days_past_due": "3"})
    assert tiers() == {ALICE["account_number"]: mid, WANG["account_number"]: early}
    with Session.begin() as session:
        assert refresh_tiers(session) == 0


# The fixtures' campaign file without its mid tier.
_EARLY_ONLY = ONE_CAMPAIGN.replace('[tiers.mid]\ndays_past_due = "30-59"\n', "").split(
    "[campaigns.us.tiers.mid]"
)[0]


def test_a_campaign_file_stored_during_an_import_does_not_break_it(Session):
    """The import commits chunk by chunk (hotline/cli.py: after_chunk=session.commit): a
    campaign file stored between two chunks that drops a tier must not leave the rest of
    the bank's file written with that tier (a foreign key to nothing: the import failed)."""
    load_campaigns(Session)  # tiers early (1-29) and mid (30-59)
    stored = []

    def after_chunk():
        session.commit()
        if not stored:  # the manager loads the new campaign file meanwhile
            with Session.begin() as other:
                store_file(other, parse_campaign_file(_EARLY_ONLY), actor="test", now=NOW)
            stored.append(True)

    bob = {**ALICE, "account_number": "4000000000000002", "days_past_due": "45"}
    with Session() as session:
        import_accounts(
            session,
            csv_of(ALICE, bob),
            secret_key=TEST_SECRET_KEY,
            now=NOW,
            actor="test",
            source={"name": "accounts.csv"},
            chunk_size=1,
            after_chunk=after_chunk,
        )
        session.commit()
    with Session() as session:
        assert account(session, bob["account_number"]).tier_id is None
