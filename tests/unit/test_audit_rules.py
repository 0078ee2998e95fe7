"""The chain check on plain objects: no database needed to show what it catches."""

import dataclasses
import datetime as dt

from hotline.audit import GENESIS_HASH, compute_hash, verify_rows


@dataclasses.dataclass
class Row:
    seq: int
    occurred_at: dt.datetime
    actor: str
    action: str
    entity_type: str
    entity_id: str
    data: str
    prev_hash: str
    hash: str = ""


def chain(n: int) -> list[Row]:
    rows, prev = [], GENESIS_HASH
    for seq in range(1, n + 1):
        row = Row(
            seq,
            dt.datetime(2026, 1, 1, 12, 0, seq, 123456, tzinfo=dt.UTC),
            "cli",
            "payment.posted",
            "payment",
            str(seq),
            f'{{"amount_minor":{seq * 100}}}',
            prev,
        )
        row.hash = compute_hash(**{k: v for k, v in dataclasses.asdict(row).items() if k != "hash"})
        rows.append(row)
        prev = row.hash
    return rows


def test_an_untouched_chain_verifies():
    report = verify_rows(chain(5))
    assert report.ok and report.rows_checked == 5 and report.head_seq == 5


def test_an_edited_row_is_caught():
    rows = chain(5)
    rows[2].data = '{"amount_minor":1}'
    assert verify_rows(rows).problems == ["seq 3: content does not match its hash (edited)"]


def test_an_edited_row_with_a_recomputed_hash_breaks_the_next_link():
    rows = chain(5)
    rows[2].data = '{"amount_minor":1}'
    rows[2].hash = compute_hash(
        **{k: v for k, v in dataclasses.asdict(rows[2]).items() if k != "hash"}
    )
    assert verify_rows(rows).problems == [
        "seq 4: prev_hash does not match the hash of the row before it"
    ]


def test_a_deleted_row_is_caught():
    rows = chain(5)
    del rows[1]
    problems = verify_rows(rows).problems
    assert "seq 3: expected seq 2 (rows missing or inserted)" in problems
    assert "seq 3: prev_hash does not match the hash of the row before it" in problems


def test_a_deleted_first_row_is_caught():
    assert not verify_rows(chain(3)[1:]).ok


def test_a_changed_timestamp_is_caught():
    rows = chain(3)
    rows[0].occurred_at += dt.timedelta(microseconds=1)
    assert not verify_rows(rows).ok
