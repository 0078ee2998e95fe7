"""The bank's payments file on a real database: each reference posted once through the
posting service, bad rows reported by line, the rest posted; and the CLI's exit codes."""

from __future__ import annotations

import datetime as dt
import io
import threading

import pytest
from sqlalchemy import func, select

from dialer.planner import plan
from hotline import audit
from hotline.enums import AttemptStatus, PaymentStatus, PhoneType, Source
from hotline.importer import import_accounts
from hotline.models import AuditEvent, CardAccount, Payment
from hotline.payment_import import import_payments
from hotline.paymentrows import PAYMENT_COLUMNS
from tests.conftest import TEST_SECRET_KEY, backend
from tests.integration.dialer_fixtures import NOW as FIXTURE_NOW
from tests.integration.dialer_fixtures import add_account, attempts, load_campaigns
from tests.integration.test_import import ALICE, WANG, csv_of

NOW = dt.datetime(2026, 11, 23, 15, 0, tzinfo=dt.UTC)
HEADER = ",".join(PAYMENT_COLUMNS)


def payments_csv(*lines: str) -> str:
    return "\n".join([HEADER, *lines]) + "\n"


def stream(text: str) -> io.StringIO:
    return io.StringIO(text, newline="")


@pytest.fixture
def accounts(Session):
    """Alice (USD, 1234.56 owed, 80.00 past due) and Wang (CNY 8800.00)."""
    with Session.begin() as session:
        import_accounts(
            session,
            csv_of(ALICE, WANG),
            secret_key=TEST_SECRET_KEY,
            now=NOW,
            actor="test",
            source={"name": "accounts.csv"},
        )


def run(Session, text: str, *, now: dt.datetime = NOW):
    with Session.begin() as session:
        return import_payments(
            session, stream(text), now=now, actor="test", source={"name": "pay.csv"}
        )


def alice(session) -> CardAccount:
    return session.scalars(
        select(CardAccount).where(CardAccount.account_number == ALICE["account_number"])
    ).one()


GOOD = payments_csv(
    f"{ALICE['account_number']},50.00,USD,2026-11-22,BANK-0001",
    f"{WANG['account_number']},100,cny,2026-11-22,BANK-0002",
)


def test_a_posting_file_posts_each_row_as_a_payment_that_lowers_what_is_owed(Session, accounts):
    report = run(Session, GOOD)
    assert report.summary() == {"rows_read": 2, "posted": 2, "already_posted": 0, "rejected": 0}
    with Session() as session:
        account = alice(session)
        assert (account.balance_minor, account.past_due_minor) == (118456, 3000)
        payment = session.scalars(
            select(Payment).where(Payment.idempotency_key == "bank:BANK-0001")
        ).one()
        assert (payment.amount_minor, payment.currency, payment.source, payment.status) == (
            5000,
            "USD",
            Source.IMPORT,
            PaymentStatus.POSTED,
        )
        assert payment.posted_on == dt.date(2026, 11, 22)
        assert payment.processor_confirmation == "BANK-0001"
        actions = session.scalars(select(AuditEvent.action).order_by(AuditEvent.seq)).all()
        assert actions.count("payment.posted") == 2
        assert actions[-1] == "import.payments"
        assert audit.verify_chain(session).ok


def test_importing_the_same_file_again_changes_nothing(Session, accounts):
    run(Session, GOOD)
    again = run(Session, GOOD)
    assert again.summary() == {"rows_read": 2, "posted": 0, "already_posted": 2, "rejected": 0}
    with Session() as session:
        assert session.scalar(select(func.count()).select_from(Payment)) == 2
        assert alice(session).balance_minor == 118456


def test_a_reference_posted_before_with_other_content_is_rejected_not_overwritten(
    Session, accounts
):
    run(Session, GOOD)
    changed = payments_csv(f"{ALICE['account_number']},60.00,USD,2026-11-22,BANK-0001")
    report = run(Session, changed)
    assert report.summary()["rejected"] == 1
    (error,) = report.rejected
    assert (error.line, error.column) == (2, "reference")
    assert "another amount" in error.reason
    with Session() as session:
        payment = session.scalars(select(Payment)).first()
        assert payment is not None and payment.amount_minor == 5000
        assert alice(session).balance_minor == 118456


def test_bad_rows_are_reported_by_line_and_column_and_the_rest_posts(Session, accounts):
    text = payments_csv(
        f"{ALICE['account_number']},12.345,USD,2026-11-22,R1",  # 2: three decimals
        f"{ALICE['account_number']},10.00,CNY,2026-11-22,R2",  # 3: not Alice's currency
        "9999999999999999,10.00,USD,2026-11-22,R3",  # 4: no such account
        f"{ALICE['account_number']},10.00,USD,22/11/2026,R4",  # 5: not ISO
        f"{ALICE['account_number']},0,USD,2026-11-22,R5",  # 6: zero
        f"{ALICE['account_number']},10.00,USD,2026-11-22,R6",  # 7: good
        f"{ALICE['account_number']},11.00,USD,2026-11-22,R6",  # 8: repeats line 7
        f"{ALICE['account_number']},10.00,USD,2026-12-30,R7",  # 9: in the future
        f"{ALICE['account_number']},-5,ZZZ,2026-11-22,",  # 10: several problems
    )
    report = run(Session, text)
    assert report.summary() == {"rows_read": 9, "posted": 1, "already_posted": 0, "rejected": 8}
    found = {(e.line, e.column) for e in report.rejected}
    assert found == {
        (2, "amount"),
        (3, "currency"),
        (4, "account_number"),
        (5, "posted_date"),
        (6, "amount"),
        (8, "reference"),
        (9, "posted_date"),
        (10, "currency"),
        (10, "reference"),
    }
    with Session() as session:
        assert alice(session).balance_minor == 123456 - 1000


@pytest.mark.parametrize("chunk_size", [1, 2, 500])
def test_malformed_rows_do_not_spare_the_well_formed_rows_their_account_checks(
    Session, accounts, chunk_size
):
    # Malformed rows (an open quote, too many fields, a bad amount) around well-formed rows
    # that name no account or the wrong currency, and good rows: every well-formed row is
    # still checked against its account and said by line, and the good ones post, whatever
    # chunk the malformed rows fall in.
    a, w = ALICE["account_number"], WANG["account_number"]
    text = payments_csv(
        f'{a},"10.00,USD,2026-11-22,Q1',  # 2: a quote never closed (one line, resumed after)
        f"{a},10.00,CNY,2026-11-22,C1",  # 3: well formed, not Alice's currency
        f"{a},10.00,USD,2026-11-22,G1,extra",  # 4: a field more than the header
        "9999999999999999,10.00,USD,2026-11-22,N1",  # 5: well formed, no such account
        f"{a},ten,USD,2026-11-22,B1",  # 6: not an amount
        f"{a},10.00,USD,2026-11-22,G2",  # 7: good
        f"{w},100.00,USD,2026-11-22,C2",  # 8: well formed, not Wang's currency
        f"{w},100.00,CNY,2026-11-22,G3",  # 9: good
        "9999999999999999,1.00,USD,2026-11-22,N2",  # 10: well formed, no such account
    )
    with Session.begin() as session:
        report = import_payments(
            session,
            stream(text),
            now=NOW,
            actor="test",
            source={"name": "pay.csv"},
            chunk_size=chunk_size,
        )
    assert report.summary() == {"rows_read": 9, "posted": 2, "already_posted": 0, "rejected": 7}
    assert sorted((e.line, e.column) for e in report.rejected) == [
        (2, "(row)"),
        (3, "currency"),
        (4, "(row)"),
        (5, "account_number"),
        (6, "amount"),
        (8, "currency"),
        (10, "account_number"),
    ]
    reasons = {e.line: e.reason for e in report.rejected}
    assert reasons[3] == "CNY is not the account's currency (USD)"
    assert reasons[8] == "USD is not the account's currency (CNY)"
    assert reasons[5] == reasons[10] == "no such account on file"
    with Session() as session:
        keys = set(session.scalars(select(Payment.idempotency_key)))
        assert keys == {"bank:G2", "bank:G3"}
        assert alice(session).balance_minor == 123456 - 1000


def test_a_wrong_header_refuses_the_whole_file(Session, accounts):
    from hotline.csvrows import HeaderError

    with pytest.raises(HeaderError, match="missing column"):
        run(Session, "account_number,amount,currency,reference\n1,1,USD,R\n")


def test_a_payment_that_clears_the_past_due_cancels_the_accounts_planned_calls(Session):
    load_campaigns(Session)
    with Session.begin() as session:
        add_account(session, "P1", past_due=80_00)
        add_account(
            session, "P2", past_due=80_00, phones=(("+12125550101", PhoneType.HOME, False),)
        )
    with Session.begin() as session:
        assert plan(session, FIXTURE_NOW).planned == 2
    # P1 pays all that is past due, P2 part of it: P1 leaves the campaign at once.
    report = run(
        Session,
        payments_csv("P1,80.00,USD,2026-12-02,R-P1", "P2,30.00,USD,2026-12-02,R-P2"),
        now=FIXTURE_NOW,
    )
    assert report.posted == 2
    rows = {a.account_id: (a.status, a.disposition) for a in attempts(Session)}
    with Session() as session:
        p1, p2 = (
            session.scalars(select(CardAccount.id).where(CardAccount.account_number == n)).one()
            for n in ("P1", "P2")
        )
    assert rows[p1] == (AttemptStatus.CANCELED, "not-due")
    assert rows[p2] == (AttemptStatus.PLANNED, None)


# --- the command ----------------------------------------------------------------------------


def write(path, text: str) -> str:
    path.write_text(text, encoding="utf-8")
    return str(path)


def test_the_command_posts_the_file_and_exits_0(hotline, tmp_path, Session, accounts):
    result = hotline("import", "payments", write(tmp_path / "p.csv", GOOD))
    assert result.exit_code == 0, result.output
    assert "pay.csv" not in result.output
    assert "p.csv: 2 rows read, 2 posted, 0 already posted, 0 rejected" in result.output
    again = hotline("import", "payments", write(tmp_path / "p.csv", GOOD))
    assert again.exit_code == 0
    assert "0 posted, 2 already posted" in again.output


def test_the_command_exits_1_with_a_report_when_a_row_is_rejected(
    hotline, tmp_path, Session, accounts
):
    text = payments_csv(
        f"{ALICE['account_number']},50.00,USD,2026-11-22,R1",
        f"{ALICE['account_number']},5.5.5,USD,2026-11-22,R2",
    )
    report = tmp_path / "rejected.csv"
    result = hotline("import", "payments", write(tmp_path / "p.csv", text), "--report", str(report))
    assert result.exit_code == 1
    assert "1 posted, 0 already posted, 1 rejected" in result.output
    assert "rejected: line 3, column amount:" in result.output
    assert report.read_text().splitlines()[1].startswith("3,amount,")


def test_the_command_says_every_rejected_row_in_line_order_format_and_account_alike(
    hotline, tmp_path, Session, accounts
):
    a = ALICE["account_number"]
    text = payments_csv(
        f"{a},10.00,CNY,2026-11-22,C1",  # 2: not Alice's currency (found when posting)
        f"{a},ten,USD,2026-11-22,B1",  # 3: not an amount (found when reading)
        "9999999999999999,10.00,USD,2026-11-22,N1",  # 4: no such account (when posting)
        f"{a},10.00,USD,2026-11-22,G1",  # 5: good
        f"{a},1.00,USD,22/11/2026,B2",  # 6: not a date (when reading)
    )
    report = tmp_path / "rejected.csv"
    result = hotline("import", "payments", write(tmp_path / "p.csv", text), "--report", str(report))
    assert result.exit_code == 1
    assert "5 rows read, 1 posted, 0 already posted, 4 rejected" in result.output
    said = [line for line in result.output.splitlines() if line.startswith("rejected: ")]
    assert [line.split(",")[0] for line in said] == [
        "rejected: line 2",
        "rejected: line 3",
        "rejected: line 4",
        "rejected: line 6",
    ]
    assert [row.split(",")[:2] for row in report.read_text().splitlines()[1:]] == [
        ["2", "currency"],
        ["3", "amount"],
        ["4", "account_number"],
        ["6", "posted_date"],
    ]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "the file is empty"),
        (b"account,amount\n", "unknown column(s): account"),
        (HEADER.encode() + b"\nA1,1.00,USD,2026-11-22,R\xff\n", "line 2 is not utf-8"),
    ],
)
def test_an_unusable_file_exits_2_in_one_line(hotline, tmp_path, content, message):
    path = tmp_path / "p.csv"
    path.write_bytes(content)
    result = hotline("import", "payments", str(path))
    assert result.exit_code == 2
    assert message in result.output
    assert len(result.output.strip().splitlines()) == 1


def test_a_missing_report_folder_is_said_before_anything_is_posted(hotline, tmp_path, Session):
    path = write(tmp_path / "p.csv", GOOD)
    result = hotline("import", "payments", path, "--report", str(tmp_path / "no" / "r.csv"))
    assert result.exit_code == 2
    assert "does not exist" in result.output
    with Session() as session:
        assert session.scalar(select(func.count()).select_from(Payment)) == 0


def test_a_gb18030_file_posts_with_its_encoding_named(hotline, tmp_path, Session, accounts):
    text = payments_csv(f"{WANG['account_number']},100.00,CNY,2026-11-22,银行-0001")
    path = tmp_path / "p.csv"
    path.write_bytes(text.encode("gb18030"))
    result = hotline("import", "payments", str(path), "--encoding", "gb18030")
    # A reference is ASCII: the row is read (not a replacement character) and refused.
    assert result.exit_code == 1
    assert "column reference: must be at most 100 printable ASCII" in result.output


# --- concurrency --------------------------------------------------------------------------------


@pytest.mark.skipif(backend() != "postgresql", reason="SQLite serialises writers")
def test_two_imports_of_one_file_at_once_post_each_reference_once(Session, accounts):
    lines = [
        f"{ALICE['account_number'] if i % 2 else WANG['account_number']},1.00,"
        f"{'USD' if i % 2 else 'CNY'},2026-11-22,C-{i:04d}"
        for i in range(60)
    ]
    text = payments_csv(*lines)
    barrier = threading.Barrier(4)
    reports, errors = [], []

    def one() -> None:
        try:
            barrier.wait()
            with Session() as session:
                reports.append(
                    import_payments(
                        session,
                        stream(text),
                        now=NOW,
                        actor="test",
                        source={"name": "p.csv"},
                        chunk_size=7,
                        after_chunk=session.commit,
                    )
                )
                session.commit()
        except Exception as exc:  # reported by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=one) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert sum(r.posted for r in reports) == 60
    assert all(r.posted + r.already_posted == 60 and not r.rejected for r in reports)
    with Session() as session:
        assert session.scalar(select(func.count()).select_from(Payment)) == 60
        account = alice(session)
        assert account.balance_minor == 123456 - 30 * 100
        assert audit.verify_chain(session).ok


def test_an_accounts_file_that_makes_an_account_current_cancels_its_planned_call(Session):
    load_campaigns(Session)
    row = {**ALICE, "phone_type": "home", "flags": "", "days_past_due": "45"}
    with Session.begin() as session:
        import_accounts(
            session, csv_of(row), secret_key=TEST_SECRET_KEY, now=FIXTURE_NOW, actor="t", source={}
        )
    with Session.begin() as session:
        assert plan(session, FIXTURE_NOW).planned == 1
    current = {**row, "past_due": "0", "days_past_due": "0"}
    with Session.begin() as session:
        import_accounts(
            session,
            csv_of(current),
            secret_key=TEST_SECRET_KEY,
            now=FIXTURE_NOW,
            actor="t",
            source={},
        )
    [attempt] = attempts(Session)
    assert (attempt.status, attempt.disposition) == (AttemptStatus.CANCELED, "not-due")
