"""`hotline dialer`: the process that runs the dialer's jobs on an APScheduler 3 scheduler.

The only module that knows APScheduler. The jobs themselves are plain functions of
(sessionmaker, gateway, clock) in dialer/tick.py; here they get a fixed id each (added
with replace_existing=True, so a restart never doubles them), one instance at a time, and
the wall clock.

Stopping: SIGTERM (or Ctrl-C) sets the stop event and shuts the scheduler down. A tick
waiting for a slot gives its claim back; a call already being placed is finished and its
CallSid stored; then the process exits 0. kill -9 needs no handling: dialer/claims.py
leaves every row in a state another dialer can resolve.

One dialer per SQLite database: SQLite has no row locks to share a queue with, so a lock
file next to the database (flock, released by the kernel even on kill -9) keeps a second
one out with a one-line message. On PostgreSQL any number may run.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import itertools
import logging
import os
import secrets
import signal
import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import IO

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers import SchedulerNotRunningError
from apscheduler.schedulers.blocking import BlockingScheduler
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError

from dialer import claims
from dialer.clock import Clock, SystemClock
from dialer.config import DialerConfig
from dialer.lifecycle import lifecycle
from dialer.plan_memo import PlanMemo
from dialer.texting import TextConfig, send_texts
from dialer.tick import TickReport, Worker, planning, reconcile, tick
from hotline.bootstrap import Runtime
from prompts.catalog import load_all

log = logging.getLogger(__name__)

TICK_JOB_ID = "dialer.tick"
RECONCILE_JOB_ID = "dialer.reconcile"
PLANNING_JOB_ID = "dialer.planning"
LIFECYCLE_JOB_ID = "dialer.lifecycle"
LIFECYCLE_EVERY = dt.timedelta(days=1)
TEXTS_JOB_ID = "dialer.texts"
# How often the texts job looks for texts owed and sends the due ones.
TEXTS_EVERY = dt.timedelta(seconds=15)


class DialerAlreadyRunning(RuntimeError):
    """Another dialer holds this SQLite database."""


@dataclass(frozen=True)
class ScheduledJob:
    """A job for the scheduler: run `func` every `every`, first at start."""

    job_id: str
    func: Callable[[], object]
    every: dt.timedelta


def planning_and_lifecycle_jobs(
    runtime: Runtime, clock: Clock, stop: threading.Event | None = None
) -> list[ScheduledJob]:
    """The jobs the dialer runs besides placing calls.

    `dialer.planning` (PLANNING_JOB_ID): refresh tiers from days past due, run the contact
    policy and queue the PLANNED attempts that are due, every HOTLINE_DIALER_PLAN_EVERY_S
    (0: not here). `dialer.texts` (TEXTS_JOB_ID, dialer/texting.py): the texts owed
    (follow-ups, courtesy reminders, thank-yous) queued and the due ones sent.
    `dialer.lifecycle` (LIFECYCLE_JOB_ID): promises kept or broken, instalments paid or
    missed, daily and once at start (dialer/lifecycle.py; safe to run any number of times,
    by any number of dialers). Each is a plain function of (sessionmaker, clock), wrapped
    as a ScheduledJob for a fixed id and one instance at a time.
    """
    jobs = [
        _texts_job(runtime, clock, stop or threading.Event()),
        ScheduledJob(
            LIFECYCLE_JOB_ID,
            _one_at_a_time(
                lambda: lifecycle(
                    runtime.Session, clock, default_zone=runtime.settings.default_timezone
                )
            ),
            LIFECYCLE_EVERY,
        ),
    ]
    every = runtime.settings.dialer_plan_every_s
    if every != 0:
        last_run = PlanMemo()  # the job's own, from run to run
        run_planning = _one_at_a_time(lambda: planning(runtime.Session, clock, last_run))
        jobs.append(ScheduledJob(PLANNING_JOB_ID, run_planning, dt.timedelta(seconds=every)))
    return jobs


def _one_at_a_time(run: Callable[[], object]) -> Callable[[], None]:
    """`run`, returning at once while a previous run is still going."""
    running = threading.Lock()

    def once() -> None:
        if not running.acquire(blocking=False):
            return
        try:
            run()
        finally:
            running.release()

    return once


def _texts_job(runtime: Runtime, clock: Clock, stop: threading.Event) -> ScheduledJob:
    """`dialer.texts` (TEXTS_JOB_ID): queue the follow-ups, reminders and thank-yous owed
    and send the due ones (dialer/texting.py), every TEXTS_EVERY, one run at a time; once
    stopping, a text claimed but not yet sent is given back."""
    config = TextConfig.from_settings(runtime.settings, new_worker_id())
    catalogs = load_all()
    run_texts = _one_at_a_time(
        lambda: send_texts(runtime.Session, runtime.gateway, clock, config, stop, catalogs)
    )
    return ScheduledJob(TEXTS_JOB_ID, run_texts, TEXTS_EVERY)


def new_worker_id() -> str:
    """Unique per process, readable in the rows it claims: host, pid and a random tag."""
    return f"{socket.gethostname()[:40]}:{os.getpid()}:{secrets.token_hex(4)}"


@contextmanager
def single_dialer_lock(database_url: str) -> Iterator[bool]:
    """On SQLite, hold `<database>.dialer.lock` or refuse; yields whether it is held
    (False on PostgreSQL, where dialers share the queue)."""
    url = make_url(database_url)
    if url.get_backend_name() != "sqlite":
        yield False
        return
    if not url.database or url.database == ":memory:":
        raise DialerAlreadyRunning("the dialer needs a SQLite file or PostgreSQL, not :memory:")
    path = Path(url.database).resolve().with_name(Path(url.database).name + ".dialer.lock")
    handle: IO[str] = path.open("a")
    try:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise DialerAlreadyRunning(
                f"another hotline dialer is already running on {url.database} (it holds "
                f"{path}); SQLite takes one dialer, use PostgreSQL to run several"
            ) from None
        yield True
    finally:
        handle.close()  # closing the file releases the lock


def run(runtime: Runtime) -> None:
    """Run the dialer until SIGTERM or SIGINT."""
    # APScheduler logs every run of every job at INFO (four lines every tick), burying the
    # dialer's own lines: its warnings (a missed run, a job that raised) still show.
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
    config = DialerConfig.from_settings(runtime.settings)
    clock = SystemClock()
    stop = threading.Event()
    with single_dialer_lock(runtime.settings.database_url) as alone:
        started = clock.now()
        worker = Worker(new_worker_id(), stop, alone_since=started if alone else None)
        _set_global_limits(runtime, config, started)
        pool = ThreadPoolExecutor(max_workers=4)
        scheduler = BlockingScheduler(
            executors={"default": pool},
            # Two instances allowed, the second returning at once (see job()).
            job_defaults={"coalesce": True, "max_instances": 2, "misfire_grace_time": 30},
            timezone=dt.UTC,
        )

        def job(step: Callable[..., TickReport]) -> Callable[[], object]:
            running = threading.Lock()

            def run_step() -> None:
                # One run at a time, without APScheduler's skipped-run warning each time a
                # busy tick is still placing when the next one is due.
                if not running.acquire(blocking=False):
                    return
                try:
                    while step(runtime.Session, runtime.gateway, clock, config, worker).more:
                        pass  # a busy tick goes on at once: no gap between ticks
                finally:
                    running.release()

            return run_step

        jobs = [
            ScheduledJob(TICK_JOB_ID, job(tick), config.tick),
            ScheduledJob(RECONCILE_JOB_ID, job(reconcile), config.tick),
            *planning_and_lifecycle_jobs(runtime, clock, stop),
        ]
        for scheduled in jobs:
            scheduler.add_job(
                scheduled.func,
                "interval",
                seconds=scheduled.every.total_seconds(),
                id=scheduled.job_id,
                name=scheduled.job_id,
                replace_existing=True,
                next_run_time=started,
            )

        # Counted by one call (next), which a handler run between two bytecodes cannot
        # split: with a test and then a set, a second handler run nested in between saw
        # no stop either, and both said "stopping".
        arrivals = itertools.count()

        def on_signal(signum: int, frame: FrameType | None) -> None:
            name = signal.Signals(signum).name
            if next(arrivals) or stop.is_set():
                # A second signal (Ctrl-C twice; a supervisor signalling the process and
                # its group): already stopping, and the scheduler may be shut down.
                log.info("dialer already stopping (%s)", name)
                return
            stop.set()
            log.info("dialer stopping (%s)", name)
            # Its loop may have ended already (the scheduler shut down on its own).
            with contextlib.suppress(SchedulerNotRunningError):
                scheduler.shutdown(wait=False)

        signal.signal(signal.SIGTERM, on_signal)
        signal.signal(signal.SIGINT, on_signal)
        log.info(
            "dialer %s started: %s calls/s, %s at once, jobs %s",
            worker.worker_id,
            config.limits.calls_per_second,
            config.limits.max_concurrent,
            ", ".join(j.job_id for j in jobs),
        )
        try:
            scheduler.start()
        finally:
            stop.set()
            # Let a call being placed finish and store its CallSid before the exit.
            pool.shutdown(wait=True)
        log.info("dialer %s stopped", worker.worker_id)


def _set_global_limits(runtime: Runtime, config: DialerConfig, now: dt.datetime) -> None:
    for _ in range(2):
        try:
            with runtime.Session.begin() as session:
                claims.set_global_limits(session, config.limits, now)
            return
        except IntegrityError:
            continue  # another dialer created the row at the same moment: set it again
    raise RuntimeError("could not set the dialer's pacing limits")
