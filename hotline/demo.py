"""The demo portfolio: a deterministic set of accounts across tiers, countries and flags.

It is generated as the bank's CSV and loaded through the real importer, so the demo also
exercises the import path. The same seed and as-of date always give the same file.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import partial

from sqlalchemy import case, func, literal, select
from sqlalchemy.orm import Session

from hotline.csvrows import COLUMNS
from hotline.importer import ImportReport, import_accounts
from hotline.models import CardAccount, DelinquencyTier
from hotline.tiers import DEFAULT_TIERS, TierBand

DEMO_SEED = 20261123
DEMO_SIZE = 300
# Past it the fictional numbers (555-0100..0199 in each area code) run out for the seed.
DEMO_MAX_SIZE = 750

# (state, area codes, ZIP prefix): US regions the demo spreads over, each with its own zone
# and, for MA and WA, their own contact rules.
_US_REGIONS = (
    ("CA", ("415", "213"), "94"),
    ("NY", ("212", "718"), "10"),
    ("MA", ("617",), "02"),
    ("WA", ("206",), "98"),
    ("TX", ("512",), "78"),
    ("FL", ("305",), "33"),
    ("IL", ("312",), "60"),
)
_CN_REGIONS = (("BJ", "100"), ("SH", "200"), ("GD", "510"), ("ZJ", "310"))
_US_FIRST = (
    "James",
    "Mary",
    "Robert",
    "Patricia",
    "John",
    "Jennifer",
    "Michael",
    "Linda",
    "David",
    "Elizabeth",
    "Maria",
    "Daniel",
    "Susan",
    "Carlos",
    "Aisha",
    "Kevin",
)
_US_LAST = (
    "Smith",
    "Johnson",
    "Williams",
    "Brown",
    "Jones",
    "Garcia",
    "Miller",
    "Davis",
    "Rodriguez",
    "Martinez",
    "Nguyen",
    "Walker",
    "Lee",
    "Patel",
    "Kim",
    "Clark",
)
_CN_FAMILY = ("王", "李", "张", "刘", "陈", "杨", "黄", "赵", "吴", "周")
_CN_GIVEN = ("芳", "伟", "娜", "敏", "静", "磊", "洋", "艳", "勇", "军", "杰", "婷")
# Share of the portfolio in each band of days past due (0 = current).
_DPD_BANDS = ((0, 0, 15), (1, 29, 35), (30, 59, 20), (60, 89, 12), (90, 179, 12), (180, 400, 6))
_FLAG_RATES = (
    ("dnc", 3),
    ("bankruptcy", 3),
    ("deceased", 2),
    ("attorney", 3),
    ("dispute", 4),
    ("cease", 2),
    ("hardship", 5),
    ("fraud", 1),
)


@dataclass(frozen=True)
class DemoCaller:
    """A demo account with known details, for the README and scripted calls."""

    account_number: str
    phone: str
    verify_digits: str
    language: str


# Fixed first rows so the docs and tests can name them.
KNOWN_CALLERS = (
    DemoCaller("4000123400000001", "+14155550100", "94107", "en"),
    DemoCaller("6200123400000002", "+8613800138000", "100086", "zh-CN"),
)


def demo_rows(
    as_of: dt.date, size: int = DEMO_SIZE, seed: int = DEMO_SEED
) -> Iterator[dict[str, str]]:
    """The demo portfolio as CSV records (column -> text)."""
    rng = random.Random(seed)
    used_numbers: set[str] = {caller.phone for caller in KNOWN_CALLERS}
    for index in range(1, size + 1):
        chinese = index == 2 or (index > 2 and rng.random() < 0.3)
        dpd = 45 if index <= 2 else _days_past_due(rng)
        if chinese:
            region, postal_prefix = rng.choice(_CN_REGIONS)
            name = rng.choice(_CN_FAMILY) + rng.choice(_CN_GIVEN) + rng.choice(("", *_CN_GIVEN))
            row = {
                "language": "zh-CN",
                "country": "CN",
                "currency": "CNY",
                "address_region": region,
                "postal_code": f"{postal_prefix}{rng.randrange(1000):03d}",
            }
            balance = rng.randrange(1_000_00, 80_000_00)
            phone = _unique(used_numbers, lambda: f"+86138{rng.randrange(10**8):08d}")
            alt = ""
            verify = row["postal_code"]
            prefix = "6200"
        else:
            state, area_codes, zip_prefix = rng.choice(_US_REGIONS)
            name = f"{rng.choice(_US_FIRST)} {rng.choice(_US_LAST)}"
            row = {
                "language": "en",
                "country": "US",
                "currency": "USD",
                "address_region": state,
                "postal_code": f"{zip_prefix}{rng.randrange(1000):03d}",
            }
            balance = rng.randrange(200_00, 15_000_00)
            make_number = partial(_fictional_us_number, rng, area_codes)
            phone = _unique(used_numbers, make_number)
            alt = _unique(used_numbers, make_number) if rng.random() < 0.25 else ""
            verify = row["postal_code"]
            prefix = "4000"
        if index <= len(KNOWN_CALLERS):
            known = KNOWN_CALLERS[index - 1]
            phone, verify, alt = known.phone, known.verify_digits, ""
            row["postal_code"] = verify
            name = "Alice Example" if index == 1 else "王芳"
        monthly_minimum = max(25_00 if not chinese else 100_00, balance * 2 // 100)
        cycles_missed = -(-dpd // 30)
        past_due = min(balance, monthly_minimum * cycles_missed)
        minimum_due = min(balance, past_due + monthly_minimum)
        flags = [] if index <= 2 else [f for f, rate in _FLAG_RATES if rng.randrange(100) < rate]
        row.update(
            {
                "account_number": f"{prefix}1234{index:08d}",
                "name": name,
                "phone": phone,
                "phone_type": "mobile" if chinese or rng.random() < 0.7 else "home",
                "alt_phones": alt,
                "autodial_consent": "yes" if rng.random() < 0.85 else "no",
                "balance": _major(balance),
                "minimum_due": _major(minimum_due),
                "past_due": _major(past_due),
                "due_date": (
                    as_of - dt.timedelta(days=dpd)
                    if dpd
                    else as_of + dt.timedelta(days=rng.randrange(1, 25))
                ).isoformat(),
                "days_past_due": str(dpd),
                "verify_digits": verify,
                "flags": ";".join(flags),
            }
        )
        yield row


def demo_csv(as_of: dt.date, size: int = DEMO_SIZE, seed: int = DEMO_SEED) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(demo_rows(as_of, size, seed))
    return buffer.getvalue()


def load_demo(
    session: Session,
    *,
    as_of: dt.date,
    secret_key: str,
    now: dt.datetime,
    actor: str,
    size: int = DEMO_SIZE,
    seed: int = DEMO_SEED,
) -> ImportReport:
    """Import the demo portfolio through the real importer, in the caller's transaction."""
    return import_accounts(
        session,
        io.StringIO(demo_csv(as_of, size, seed), newline=""),
        secret_key=secret_key,
        now=now,
        actor=actor,
        source={"name": "demo", "seed": seed, "as_of": as_of.isoformat(), "size": size},
    )


def _days_past_due(rng: random.Random) -> int:
    pick = rng.randrange(100)
    for low, high, share in _DPD_BANDS:
        if pick < share:
            return rng.randint(low, high)
        pick -= share
    raise AssertionError("band shares must add up to 100")


def _fictional_us_number(rng: random.Random, area_codes: tuple[str, ...]) -> str:
    # 555-0100..0199 are the numbers set aside for fiction in North America.
    return f"+1{rng.choice(area_codes)}5550{rng.randrange(100, 200)}"


def _unique(used: set[str], make: Callable[[], str]) -> str:
    for _ in range(1000):
        number = make()
        if number not in used:
            used.add(number)
            return number
    raise RuntimeError("demo ran out of fictional numbers")


def _major(minor: int) -> str:
    return f"{minor // 100}.{minor % 100:02d}"


def ensure_default_tiers(session: Session) -> int:
    """Create the default tier table if no tiers exist yet; return how many were made."""
    if session.scalar(select(func.count()).select_from(DelinquencyTier)):
        return 0
    session.add_all(
        DelinquencyTier(
            code=t.code,
            name=t.name,
            min_days_past_due=t.min_days_past_due,
            max_days_past_due=t.max_days_past_due,
        )
        for t in DEFAULT_TIERS
    )
    session.flush()
    return len(DEFAULT_TIERS)


@dataclass(frozen=True)
class TierLine:
    tier: TierBand | None  # None: current accounts and days past due outside every tier
    currency: str
    accounts: int
    balance_minor: int
    past_due_minor: int


def portfolio_by_tier(session: Session) -> list[TierLine]:
    """Accounts, balance and past-due totals per tier and currency, in tier order."""
    tiers = [
        TierBand(t.code, t.name, t.min_days_past_due, t.max_days_past_due)
        for t in session.scalars(
            select(DelinquencyTier).order_by(DelinquencyTier.min_days_past_due)
        )
    ]
    dpd = CardAccount.days_past_due
    conditions = [
        (
            dpd.between(t.min_days_past_due, t.max_days_past_due)
            if t.max_days_past_due is not None
            else dpd >= t.min_days_past_due,
            t.code,
        )
        for t in tiers
    ]
    tier_code = case(*conditions, else_="") if conditions else literal("")
    rows = session.execute(
        select(
            tier_code.label("tier"),
            CardAccount.currency,
            func.count(),
            func.sum(CardAccount.balance_minor),
            func.sum(CardAccount.past_due_minor),
        ).group_by("tier", CardAccount.currency)
    ).all()
    by_code = {t.code: t for t in tiers}
    order = {t.code: i for i, t in enumerate(tiers)}
    lines = [
        TierLine(by_code.get(code), currency, int(count), int(balance or 0), int(past or 0))
        for code, currency, count, balance, past in rows
    ]
    return sorted(
        lines, key=lambda line: (order.get(line.tier.code, -1) if line.tier else -1, line.currency)
    )
