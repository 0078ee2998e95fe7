"""`hotline campaign simulate`: rehearse the campaigns on a virtual clock before going live.

The real parts, end to end: the dialer's planning job and every other job
`dialer.process.planning_and_lifecycle_jobs` returns (texts, lifecycle, as they join it),
the tick and reconcile (dialer/tick.py), the contact policy inside them, the Twilio
adapter on the `twilio` SDK, the app's /dialer webhooks served over loopback, and the
simulator as the carrier, with a seeded mix of people whose behaviour varies call to call
(simulator.callees.PeopleMix). Nothing reaches beyond 127.0.0.1 (the requests between the
SDK, the carrier and the app are made in-process: simulator/wsgi_transport.py) and nothing
waits on the wall clock: the jobs, the webhooks and the carrier read the simulation's
clock (columns that default to the moment of writing, such as a row's created_at, still
take the wall clock's time in the scratch copy).

Where it runs: a scratch SQLite file in a temporary folder, holding a copy of every row of
the configured database (accounts, numbers and their opt-outs, flags, consents, the
contact history the caps count, campaigns and tiers). A rehearsal must change nothing a
production dialer or the IVR would read (numbers opted out by a simulated callee, promises
nobody made, payments never charged, attempts and audit events of calls never placed), so
it never writes to the configured database at all; SQLite needs no privilege to create
and is gone when the run ends.

How time goes, and why one seed replays exactly: the carrier holds each call the tick
places until the dialer's clock moves on (Carrier.hold_calls), then runs it to its end on
this thread, one call at a time, in the order placed; meanwhile the app's clock reads the
call's own time (its TwiML requests happen seconds into the call). Its status callbacks
are delivered when the simulation's clock reaches them (CallbackDelivery "on-time"), so
the dialer sees a call in flight until its completed callback, as it would live, and its
concurrency limit holds. Between events the clock jumps to the next one: a job's next run,
a callback due, the next attempt due.
"""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import logging
import random
import shutil
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, delete, func, insert, select
from sqlalchemy.orm import Session, sessionmaker

from dialer import campaign_store, claims
from dialer.campaign_file import parse_campaign_file
from dialer.config import DialerConfig
from dialer.outcomes import IN_FLIGHT
from dialer.preview import PreviewLine, preview, summary
from dialer.process import (
    RECONCILE_JOB_ID,
    TEXTS_JOB_ID,
    TICK_JOB_ID,
    planning_and_lifecycle_jobs,
)
from dialer.tick import Worker, reconcile, tick
from hotline import db
from hotline.bootstrap import Runtime
from hotline.enums import AttemptStatus, CampaignStatus, Direction, Disposition
from hotline.models import (
    Base,
    Campaign,
    CardAccount,
    Cardholder,
    ContactAttempt,
    DialerPacing,
    Phone,
    PlanChange,
    PlanChangeEpoch,
    table_of,
)
from hotline.profiles import PROFILES
from hotline.settings import Settings
from simulator import wsgi_transport
from simulator.callees import Party, PeopleMix, Script
from simulator.carrier import Carrier
from simulator.carrier.delivery import CallbackDelivery
from simulator.carrier.records import SimCall
from simulator.clock import VirtualClock
from simulator.server import BackgroundServer, RunningSimulator, start
from simulator.softphone import render
from telephony.twilio_gateway import TwilioGateway

log = logging.getLogger(__name__)

EXAMPLE_CAMPAIGNS = Path(__file__).resolve().parents[1] / "campaigns.example.toml"
COLUMNS = (
    "attempt_id",
    "account_number",
    "phone",
    "placed_at",
    "status",
    "answered_by",
    "duration_s",
    "disposition",
    "said",
)
WORKER_ID = "simulation"
# Calls kept, with their transcripts, to print a few of (the first of each disposition).
KEPT_CALLS = 2000
CONNECTED = frozenset({AttemptStatus.COMPLETED})
# The carrier forgets a call a day after it ended (Carrier.forget_ended; longer if reconcile
# waits longer), checked every simulated hour: the dialer asks the carrier about a call
# minutes after placing it at most (reconcile), and the calls printed are the clock's. A
# month's calls, each with its transcript, were most of a rehearsal's memory.
KEEP_ENDED_CALLS = dt.timedelta(days=1)
FORGET_EVERY = dt.timedelta(hours=1)


class SimulationError(ValueError):
    """A simulation that cannot be run as asked; the message says why, in one line."""


@dataclass(frozen=True)
class Options:
    days: int
    seed: int = 1
    profile: str | None = None
    start: dt.datetime | None = None  # default: today 00:00 UTC
    # How often the planning job runs in simulated time; None: HOTLINE_DIALER_PLAN_EVERY_S.
    plan_every_s: int | None = None


@dataclass
class Summary:
    """What a run did: the figures the command prints, each counted from the rows."""

    start: dt.datetime
    end: dt.datetime
    attempts: int = 0
    connects: int = 0
    right_party: int = 0
    promises: int = 0
    payments: int = 0
    voicemails: int = 0
    texts: int = 0
    accounts: int = 0
    accounts_called: int = 0
    not_called: dict[str, int] = field(default_factory=dict)
    dispositions: dict[str, int] = field(default_factory=dict)
    campaigns: list[str] = field(default_factory=list)
    campaigns_loaded_from: str = ""


@dataclass
class Result:
    summary: Summary
    rows: list[dict[str, str]]
    transcripts: list[tuple[dict[str, str], list[str]]]  # a few calls, as heard
    # Wall seconds spent in each part of the run (for bench/simulate_campaign.py): the
    # copy, each job by id, the tick, the calls' TwiML, the callbacks, the rest of the loop.
    timings: dict[str, float] = field(default_factory=dict)
    # Calls to the IVR made once the campaign was over (the demo's): what, and as heard.
    inbound: list[tuple[str, list[str]]] = field(default_factory=list)


class Stopwatch:
    """Wall seconds by part, each part's own (a call run inside the tick's wait for a slot
    counts for the calls, not the tick): measuring the run, never timing anything in it."""

    def __init__(self) -> None:
        self.spent: dict[str, float] = {}
        self._inner: list[float] = []  # time taken by parts nested in the open ones

    @contextmanager
    def part(self, name: str) -> Iterator[None]:
        started = time.perf_counter()
        self._inner.append(0.0)
        try:
            yield
        finally:
            took = time.perf_counter() - started
            nested = self._inner.pop()
            self.spent[name] = self.spent.get(name, 0.0) + took - nested
            if self._inner:
                self._inner[-1] += took


class SimulationClock:
    """The dialer's clock (dialer.clock.Clock) and the app's, on the carrier's virtual time.

    `now` is the carrier's time, or, while a call runs, that call's own time (so the app's
    webhooks see the moment they are made). `sleep` first runs the calls placed so far, then
    moves time on, delivering each held callback at its own moment.
    """

    def __init__(self, virtual: VirtualClock, carrier: Carrier, watch: Stopwatch) -> None:
        self.virtual = virtual
        self.carrier = carrier
        self.watch = watch
        self.running: SimCall | None = None
        self.calls_run: list[SimCall] = []  # the first KEPT_CALLS, in the order run

    def now(self) -> dt.datetime:
        call = self.running
        if call is not None:
            return call.at()
        return self.virtual.now()

    def sleep(self, seconds: float, stop: threading.Event) -> bool:
        if stop.is_set():
            return False
        self.advance_to(self.virtual.now() + dt.timedelta(seconds=max(seconds, 0.0)))
        return not stop.is_set()

    def run_placed(self) -> None:
        """Run every call placed and not yet run, one at a time, in the order placed."""
        for call in self.carrier.take_held():
            self.running = call
            try:
                with self.watch.part("calls (TwiML)"):
                    self.carrier.run_held(call)
            finally:
                self.running = None
            if len(self.calls_run) < KEPT_CALLS:
                self.calls_run.append(call)

    def advance_to(self, moment: dt.datetime) -> None:
        self.run_placed()
        while True:
            due = self.carrier.next_callback_due()
            if due is None or due > moment:
                break
            if due > self.virtual.now():
                self.virtual.set(due)
            with self.watch.part("status callbacks"):
                self.carrier.release_callbacks(self.virtual.now())
        if moment > self.virtual.now():
            self.virtual.set(moment)


class _FixedTime(VirtualClock):
    """The carrier's clock in a simulation: only the simulation moves it (a call that ends
    does not drag the whole world to its end, as VirtualClock.reached would)."""

    def reached(self, moment: dt.datetime) -> None:
        return None


# --- the scratch database -----------------------------------------------------------------


def copy_database(source: Engine, target: Engine, chunk: int = 2000) -> dict[str, int]:
    """Every row of every table of the model, from `source` into the empty schema of
    `target`, parents before children; rows copied per table. Not the planning change
    feed (dialer/plan_changes.py): the copy's own triggers write it as rows go in, and a
    run's planner starts by reading everything anyway, so those rows are let go; its
    epoch is the copy's own, made by its migration."""
    copied: dict[str, int] = {}
    feed = table_of(PlanChange)
    own = (feed, table_of(PlanChangeEpoch))
    with source.connect() as reading, target.begin() as writing:
        for table in Base.metadata.sorted_tables:
            if table in own:
                continue
            result = reading.execution_options(yield_per=chunk).execute(select(table))
            count = 0
            for rows in result.mappings().partitions(chunk):
                writing.execute(insert(table), [dict(r) for r in rows])
                count += len(rows)
            copied[table.name] = count
        writing.execute(delete(feed))
    return copied


@contextmanager
def scratch_database(settings: Settings) -> Iterator[str]:
    """A temporary SQLite file holding a copy of the configured database; removed after."""
    folder = Path(tempfile.mkdtemp(prefix="hotline-simulate-"))
    url = f"sqlite:///{folder / 'simulation.db'}"
    try:
        source = db.make_engine(settings.database_url)
        target = db.make_engine(url)
        try:
            db.ensure_schema(source)  # an empty source gets its schema, as commands do
            db.upgrade(target)
            copy_database(source, target)
        finally:
            source.dispose()
            target.dispose()
        yield url
    finally:
        shutil.rmtree(folder, ignore_errors=True)


# --- the run ---------------------------------------------------------------------------------


def _prepare_campaigns(
    Session: sessionmaker[Session], settings: Settings, options: Options, now: dt.datetime
) -> tuple[list[str], str]:
    """The campaigns rehearsed: those stored, else the shipped example; every one not
    finished is started in the scratch copy, with the profile of `--profile` if given."""
    origin = "the database"
    with Session.begin() as session:
        if session.scalar(select(func.count()).select_from(Campaign)) == 0:
            spec = parse_campaign_file(EXAMPLE_CAMPAIGNS.read_text("utf-8"), settings.caller_ids)
            campaign_store.store_file(session, spec, actor="simulation", now=now)
            origin = EXAMPLE_CAMPAIGNS.name
        names = []
        for campaign in session.scalars(select(Campaign).order_by(Campaign.name)):
            if campaign.status is CampaignStatus.FINISHED:
                continue
            if options.profile is not None:
                campaign.profile = options.profile
            if campaign.status is not CampaignStatus.ACTIVE:
                campaign_store.set_status(
                    session, campaign.name, CampaignStatus.ACTIVE, actor="simulation", now=now
                )
            names.append(campaign.name)
    return names, origin


def _promises(Session: sessionmaker[Session]) -> dict[str, int]:
    """What each number's person promises when they do: their account's minimum due (or
    its balance, when none is due)."""
    with Session() as session:
        rows = session.execute(
            select(Phone.e164, CardAccount.minimum_due_minor, CardAccount.balance_minor)
            .join(Cardholder, Phone.cardholder_id == Cardholder.id)
            .join(CardAccount, CardAccount.cardholder_id == Cardholder.id)
        ).all()
    return {number: minimum or balance for number, minimum, balance in rows if balance > 0}


@dataclass
class _Due:
    """A job run at its interval on the simulation's clock."""

    job_id: str
    func: Callable[[], object]
    every: dt.timedelta
    next: dt.datetime
    watch: Stopwatch

    def run_if_due(self, now: dt.datetime) -> None:
        if self.next > now:
            return
        with self.watch.part(self.job_id):
            self.func()
        while self.next <= now:
            self.next += self.every


def _next_event(
    line: Line,
    Session: sessionmaker[Session],
    jobs: list[_Due],
    config: DialerConfig,
    end: dt.datetime,
) -> dt.datetime:
    """When the loop next has something to do: a job's run (reconcile aside: it runs at
    whichever of the loop's turns is due), the next attempt's due time, or, while attempts
    are due but waiting, the next tick or the next callback (pacing), or, while every call
    slot is in use, the next callback that ends a call (it frees a slot) or the moment
    reconcile may fetch an overdue call, whichever comes first. Callbacks due before then
    are delivered on the way, each at its own moment."""
    now = line.clock.now()
    candidates = [end, *(job.next for job in jobs if job.every != config.tick)]
    with line.clock.watch.part("next event"):
        due = _next_attempt_due(Session)
    if due is not None and due > now:
        candidates.append(due)
    elif due is not None:
        ending = line.carrier.next_callback_due(ending=True)
        with line.clock.watch.part("next event"):
            overdue = _first_overdue_while_lines_full(Session, config) if ending else None
        if ending is not None and overdue is not None:
            # Every call slot in use: until a call's final status comes (or reconcile may
            # fetch an overdue call) each turn would find no room and do nothing, so the
            # loop goes straight there: 3 in 4 of a rehearsal's turns were such turns.
            candidates += [ending, max(overdue, now + config.tick)]
        else:
            candidates.append(now + config.tick)
            callback = line.carrier.next_callback_due()
            if callback is not None:
                candidates.append(callback)
    return max(min(candidates), now + dt.timedelta(milliseconds=1))


def _first_overdue_while_lines_full(
    Session: sessionmaker[Session], config: DialerConfig
) -> dt.datetime | None:
    """While every call slot the global limit allows is taken by a placed call: when the
    first of them becomes due for reconcile (dialer.reconcile.reconcile_overdue); None
    while a slot is free or a claim has no CallSid yet (the tick or reconcile may act)."""
    with Session() as session:
        limit = session.scalar(_GLOBAL_LIMIT)
        rows = session.execute(_IN_FLIGHT).all()
    if limit is None or len(rows) < limit:
        return None
    moments = []
    for sid, placed, checked in rows:
        if sid is None or placed is None:
            return None
        last = max(placed, checked) if checked is not None else placed
        moments.append(last + config.reconcile_after)
    return min(moments)


def _next_attempt_due(Session: sessionmaker[Session]) -> dt.datetime | None:
    with Session() as session:
        return session.scalar(_NEXT_DUE)


# The loop's statements, run at every turn: built once (building one cost more than
# running it).
_GLOBAL_LIMIT = select(DialerPacing.max_concurrent).where(DialerPacing.scope == claims.GLOBAL_SCOPE)
_IN_FLIGHT = select(
    ContactAttempt.provider_call_sid,
    ContactAttempt.placed_at,
    ContactAttempt.carrier_checked_at,
).where(
    ContactAttempt.direction == Direction.OUTBOUND,
    ContactAttempt.status.in_(IN_FLIGHT),
)
# The first by the (status, due_at) index, where min() read every planned row's direction
# (the queue's whole length, each turn of the loop). The column's type gives it back in
# UTC on both databases (hotline.models.UTCDateTime).
_NEXT_DUE = (
    select(ContactAttempt.due_at)
    .where(
        ContactAttempt.status == AttemptStatus.PLANNED,
        ContactAttempt.due_at.is_not(None),
        ContactAttempt.direction == Direction.OUTBOUND,
    )
    .order_by(ContactAttempt.due_at)
    .limit(1)
)


@dataclass
class Line:
    """The app, the carrier and the dialer's parts of one simulation, all in-process."""

    app: Any
    simulator: RunningSimulator
    served: BackgroundServer
    clock: SimulationClock

    @property
    def carrier(self) -> Carrier:
        return self.simulator.carrier

    def stop(self) -> None:
        self.simulator.stop()
        self.served.stop()
        self.app.extensions["hotline"].engine.dispose()


class _Deferred:
    """A WSGI app set once the server has its port (the app must know its own URL)."""

    app: Any = None

    def __call__(self, environ: Any, start_response: Any) -> Any:
        return self.app(environ, start_response)


def start_line(settings: Settings, database_url: str, options: Options, at: dt.datetime) -> Line:
    """The app on the scratch database and the simulator, on loopback, on one virtual time."""
    from hotline.web import (  # the app factory: imported when a run starts
        create_app,
        lift_database_budget,
    )

    deferred = _Deferred()
    served = BackgroundServer(deferred, name="simulation-app")
    virtual = _FixedTime(at)
    carrier = Carrier(
        account_sid=settings.twilio_account_sid,
        auth_token=settings.twilio_auth_token,
        numbers=settings.caller_ids,
        voice_url=served.base_url + "/ivr/voice",
        sms_url=served.base_url + "/sms/inbound",
        clock=virtual,
        calls_per_second=settings.dialer_calls_per_second,
        callback_delivery=CallbackDelivery(mode="on-time"),
        max_workers=4,
        http=wsgi_transport.InProcessSession(),
    )
    carrier.hold_calls = True
    carrier.ids = random.Random(f"ids:{options.seed}")
    simulator = start(carrier)
    clock = SimulationClock(virtual, carrier, Stopwatch())
    app = create_app(
        {
            **{f.name: getattr(settings, f.name) for f in dataclasses.fields(settings)},
            "env": "development" if settings.is_production else settings.env,
            "database_url": database_url,
            "public_base_url": served.base_url,
            "twilio_api_base_url": simulator.base_url,
            "log_level": "WARNING",
            "dialer_plan_every_s": options.plan_every_s or settings.dialer_plan_every_s,
        }
    )
    # The lines' webhooks read the simulation's time, not the wall clock, and have no
    # wall-clock budget either (a busy machine would otherwise change what a seed replays).
    lift_database_budget(app)
    for name in ("dialer", "ivr"):
        app.extensions[name] = dataclasses.replace(app.extensions[name], clock=clock.now)
    deferred.app = app
    # Every request between the carrier, the SDK and the app is made in-process: the same
    # requests, without a socket and a server thread each (simulator/wsgi_transport.py).
    wsgi_transport.mount(carrier.http, served.base_url, app)
    gateway = app.extensions["hotline"].gateway
    if isinstance(gateway, TwilioGateway):
        session = gateway.client.http_client.session  # type: ignore[attr-defined]
        wsgi_transport.mount(session, simulator.base_url, simulator.server.app)
    carrier.mix = PeopleMix(
        seed=options.seed,
        promises=_promises(app.extensions["hotline"].Session),
        today=lambda: virtual.now().date(),
    )
    return Line(app, simulator, served, clock)


def simulate(
    settings: Settings,
    options: Options,
    *,
    progress: Callable[[float], None] | None = None,
    inbound: tuple[tuple[str, str, str], ...] = (),
    transcripts: int = 0,
) -> Result:
    """Run the campaigns for `options.days` on a copy of the configured database."""
    if not 1 <= options.days <= 366:
        raise SimulationError("--days must be from 1 to 366")
    if options.plan_every_s is not None and not 60 <= options.plan_every_s <= 86_400:
        raise SimulationError("--plan-every must be from 60 to 86400 seconds")
    if options.profile is not None and options.profile not in PROFILES:
        raise SimulationError(
            f"--profile {options.profile!r} is not one of {', '.join(sorted(PROFILES))}"
        )
    begin = options.start or dt.datetime.now(dt.UTC).replace(
        hour=0, minute=0, second=0, microsecond=0
    )
    end = begin + dt.timedelta(days=options.days)
    quiet = {"werkzeug": logging.WARNING}
    previous = {name: logging.getLogger(name).level for name in quiet}
    for name, level in quiet.items():
        logging.getLogger(name).setLevel(level)
    try:
        with scratch_database(settings) as url:
            line = start_line(settings, url, options, begin)
            try:
                return _run(line, settings, options, begin, end, progress, inbound, transcripts)
            finally:
                line.stop()
    finally:
        for name, level in previous.items():
            logging.getLogger(name).setLevel(level)


def _run(
    line: Line,
    settings: Settings,
    options: Options,
    begin: dt.datetime,
    end: dt.datetime,
    progress: Callable[[float], None] | None,
    inbound: tuple[tuple[str, str, str], ...],
    transcripts: int,
) -> Result:
    runtime: Runtime = line.app.extensions["hotline"]
    Session = runtime.Session
    clock = line.clock
    names, origin = _prepare_campaigns(Session, runtime.settings, options, begin)
    config = DialerConfig.from_settings(runtime.settings)
    with Session.begin() as session:
        claims.set_global_limits(session, config.limits, begin)
    worker = Worker(WORKER_ID, threading.Event(), alone_since=begin)
    # Every job the dialer runs besides placing calls, each at its own interval; reconcile as
    # the process runs it (every tick); the tick whenever something may have become due.
    watch = clock.watch
    jobs = [
        _Due(job.job_id, job.func, _rehearsal_every(job.job_id, job.every), begin, watch)
        for job in planning_and_lifecycle_jobs(runtime, clock)
    ]
    jobs.append(
        _Due(
            RECONCILE_JOB_ID,
            lambda: reconcile(Session, runtime.gateway, clock, config, worker),
            config.tick,
            begin,
            watch,
        )
    )
    # Longer than reconcile may still ask about a call whose final status never came.
    keep_ended = max(KEEP_ENDED_CALLS, config.reconcile_after) + FORGET_EVERY
    forget_at = begin + FORGET_EVERY
    while clock.now() < end:
        if clock.now() >= forget_at:
            line.carrier.forget_ended(clock.now() - keep_ended)
            forget_at = clock.now() + FORGET_EVERY
        for job in jobs:
            job.run_if_due(clock.now())
        with watch.part(TICK_JOB_ID):
            while tick(Session, runtime.gateway, clock, config, worker).more:
                pass
        clock.run_placed()
        if progress is not None:
            progress((clock.now() - begin) / (end - begin))
        clock.advance_to(_next_event(line, Session, jobs, config, end))
    clock.advance_to(end + dt.timedelta(hours=1))  # calls still live at the end finish
    if progress is not None:
        progress(1.0)
    with watch.part("results"):
        result = _result(line, Session, begin, end, names, origin, transcripts)
    result.inbound = ring_the_line(line, inbound)
    result.timings = dict(watch.spent)
    return result


# The texts job runs every 15 s in the dialer; in a rehearsal that is most of the CPU (a
# day is 5,760 runs that find nothing almost every time), so it runs every 5 simulated
# minutes: a rehearsed text may go up to 5 minutes later than the dialer would send it,
# still asked of the contact policy at that moment.
REHEARSAL_TEXTS_EVERY = dt.timedelta(minutes=5)


def _rehearsal_every(job_id: str, every: dt.timedelta) -> dt.timedelta:
    return max(every, REHEARSAL_TEXTS_EVERY) if job_id == TEXTS_JOB_ID else every


def _result(
    line: Line,
    Session: sessionmaker[Session],
    begin: dt.datetime,
    end: dt.datetime,
    names: list[str],
    origin: str,
    transcripts: int,
) -> Result:
    with Session() as session:
        attempts = session.execute(
            select(ContactAttempt, CardAccount.account_number)
            .join(CardAccount, ContactAttempt.account_id == CardAccount.id)
            .where(
                ContactAttempt.direction == Direction.OUTBOUND,
                ContactAttempt.placed_at.is_not(None),
                ContactAttempt.placed_at >= begin,
            )
            .order_by(ContactAttempt.placed_at, ContactAttempt.id)
        ).all()
        rows = [_row(attempt, account_number) for attempt, account_number in attempts]
        sids = {a.provider_call_sid: r for (a, _), r in zip(attempts, rows, strict=True)}
        accounts = session.scalar(select(func.count()).select_from(CardAccount)) or 0
        called = {r["account_number"] for r in rows}
        lines = [p for p in preview(session, end.date(), end) if p.account_number not in called]
    texts = sum(
        1
        for m in line.carrier.messages
        if m.direction != "inbound" and m.from_ in line.carrier.numbers
    )
    dispositions = Counter(r["disposition"] for r in rows)
    summary_ = Summary(
        start=begin,
        end=end,
        attempts=len(rows),
        connects=sum(1 for r in rows if r["duration_s"] not in ("", "0")),
        right_party=sum(1 for r in rows if r["disposition"] in _RIGHT_PARTY),
        promises=dispositions[Disposition.PROMISE.value],
        payments=dispositions[Disposition.PAID.value],
        voicemails=dispositions[Disposition.VOICEMAIL_LEFT.value],
        texts=texts,
        accounts=accounts,
        accounts_called=len(called),
        not_called=_not_called(lines, accounts - len(called)),
        dispositions=dict(sorted(dispositions.items())),
        campaigns=names,
        campaigns_loaded_from=origin,
    )
    shown: list[tuple[dict[str, str], list[str]]] = []
    for call in _interesting(line.clock.calls_run, sids, transcripts):
        shown.append((sids[call.sid], _heard(call)))
    return Result(summary_, rows, shown)


# What an account none of the campaigns covers is, in the preview's words.
NO_CAMPAIGN = "in no campaign's audience or tiers (current, or not in arrears)"
NOT_REACHED = "callable, not reached in the run (pacing, attempts a day, spacing)"


def _not_called(lines: list[PreviewLine], not_called: int) -> dict[str, int]:
    """Accounts never called in the run, by the reason the preview gives on the day after
    it; those it would call then were due but not reached (NOT_REACHED), those no campaign
    covers (the preview lists only a campaign's accounts) are NO_CAMPAIGN."""
    reasons = summary(lines)
    reached = sum(1 for line in lines if line.called)
    if reached:
        reasons[NOT_REACHED] = reached
    if not_called > len(lines):
        reasons[NO_CAMPAIGN] = not_called - len(lines)
    return dict(sorted(reasons.items(), key=lambda kv: (-kv[1], kv[0])))


# A right-party contact: the cardholder said who they are (and then perhaps more).
_RIGHT_PARTY = frozenset(
    {
        Disposition.RIGHT_PARTY.value,
        Disposition.PROMISE.value,
        Disposition.PAID.value,
        Disposition.OPTED_OUT.value,
        Disposition.TRANSFERRED.value,
    }
)


def _row(attempt: ContactAttempt, account_number: str) -> dict[str, str]:
    placed = attempt.placed_at
    assert placed is not None
    return {
        "attempt_id": str(attempt.id),
        "account_number": account_number,
        "phone": attempt.number or "",
        "placed_at": placed.astimezone(dt.UTC).isoformat().replace("+00:00", "Z"),
        "status": str(attempt.status),
        "answered_by": attempt.answered_by or "",
        "duration_s": "" if attempt.duration_seconds is None else str(attempt.duration_seconds),
        "disposition": str(attempt.disposition or ""),
        "said": attempt.said or "",
    }


def _interesting(
    calls: list[SimCall], rows: dict[str | None, dict[str, str]], count: int
) -> list[SimCall]:
    """A few calls worth reading: the first of each disposition, payments first."""
    order = [
        Disposition.PAID.value,
        Disposition.PROMISE.value,
        Disposition.VOICEMAIL_LEFT.value,
        Disposition.WRONG_PARTY.value,
        Disposition.OPTED_OUT.value,
        Disposition.RIGHT_PARTY.value,
    ]
    chosen: list[SimCall] = []
    for disposition in order:
        for call in calls:
            row = rows.get(call.sid)
            if row is not None and row["disposition"] == disposition:
                chosen.append(call)
                break
    return chosen[:count]


def _heard(call: SimCall) -> list[str]:
    """The call as the softphone prints it, without the webhook requests."""
    return render(e.as_dict() for e in call.transcript if e.kind not in ("fetch", "callback"))


def write_attempts(rows: list[dict[str, str]], path: Path) -> None:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=COLUMNS)
        writer.writeheader()
        writer.writerows(rows)


# The demo's inbound calls: the demo callers ring the IVR through the simulator once the
# campaign is over (hotline.demo.KNOWN_CALLERS: number, and the digits that verify them).
DEMO_INBOUND = (
    ("balance, in English", "+14155550100", "94107#,1"),
    ("a card payment of the minimum", "+14155550100", "94107#,2,1,1"),
    ("balance, in Chinese", "+8613800138000", "100086#,1"),
)


def ring_the_line(
    line: Line, calls: tuple[tuple[str, str, str], ...] = DEMO_INBOUND
) -> list[tuple[str, list[str]]]:
    """Ring the IVR as each (what, number, keys) caller, one after another; the transcripts."""
    heard = []
    for what, number, keys in calls:
        party = Party(Script.from_dict({"keys": keys}))
        call = line.carrier.start_inbound(number, party=party)
        line.carrier.wait(call.sid, timeout=60)
        heard.append((f"{what} ({number}, keys {keys})", _heard(call)))
    return heard
