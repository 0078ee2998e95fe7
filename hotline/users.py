"""Desk users: accounts, argon2 passwords, rate-limited sign-in and server-side sessions.

Services take the caller's session and never commit, except `sign_in`, which frames its
own two short transactions (it is given the sessionmaker): the attempt is recorded and
counted under a lock first, the password is checked with no lock or transaction held (an
argon2 check takes tens of milliseconds and 64 MiB), and the outcome is written after.

The rate limit lives in the database (login_attempt), not in Redis or in memory: every
gunicorn worker and host shares it with no extra service to run, monitor or lose (a Redis
that is down would have to either open the gate or lock everyone out), it works the same
on SQLite, and the rows are the evidence an auditor asks for (who tried, from where,
when). Sign-ins are a few per person per day: the table adds nothing measurable.

How it counts, per user name (as typed, so unknown names are limited too) and per address:
failed and still-pending attempts within the window; for a user only those after their last
successful sign-in and after their password was last set. Refused attempts do not count,
so a locked-out name opens again when its failures age out. On PostgreSQL the count and
the insert run under advisory locks on both keys (always the name first, so two attempts
never wait on each other in a cycle); SQLite's writers queue already (BEGIN IMMEDIATE).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import func, select, text, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from hotline import audit
from hotline.enums import DeskRole, Language, LoginOutcome
from hotline.models import Agency, DeskSession, DeskUser, LoginAttempt, utcnow
from hotline.money import MoneyError, normalise_currency
from hotline.phones import PhoneError, parse_phone

MIN_PASSWORD_LENGTH = 12
MAX_PASSWORD_LENGTH = 256
USERNAME_MAX = 64
# A waiver limit beyond any balance (10^12 minor units: ten billion dollars); what BIGINT
# (and SQLite's INTEGER) can store is far above it.
MAX_WAIVER_LIMIT_MINOR = 10**12
# A session ends after this long without a request, and in any case this long after it
# began (a shift): the cookie cannot outlive either.
SESSION_IDLE = dt.timedelta(hours=8)
SESSION_MAX = dt.timedelta(hours=12)
# last_seen_at is written at most this often per session, not on every request.
SESSION_TOUCH_EVERY = dt.timedelta(seconds=60)

# argon2id at OWASP's recommended floor (19 MiB, 2 passes, 1 lane) rather than
# argon2-cffi's default (64 MiB, 3 passes, 4 lanes): a sign-in is checked inside a web
# request's budget on a two-core server, where the default took 4 times as long (about
# 0.4 s against 0.1 s on a busy machine) and 16 agents signing in at 8:00 would queue
# for seconds. A stored hash keeps its own parameters; a sign-in rehashes one made with
# others. Tests swap in a cheaper hasher.
HASHER = PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1)


@dataclass(frozen=True)
class LoginLimits:
    per_user: int = 5
    # Higher: a call centre signs in from behind one address.
    per_address: int = 30
    window: dt.timedelta = dt.timedelta(minutes=15)


LIMITS = LoginLimits()


class UserError(ValueError):
    """Something about a user that a person got wrong; the message says what."""


class UnknownUser(UserError):
    pass


class UnknownAgency(UserError):
    pass


def normalise_username(text_: str) -> str:
    """The stored form of a user name: NFKC, trimmed, lower case."""
    return unicodedata.normalize("NFKC", text_).strip().lower()


def check_username(text_: str) -> str:
    name = normalise_username(text_)
    if not 2 <= len(name) <= USERNAME_MAX or not all(
        ch.isascii() and (ch.isalnum() or ch in "._@-") for ch in name
    ):
        raise UserError(
            f"user name {text_!r}: 2 to {USERNAME_MAX} letters, digits or . _ @ - (ASCII)"
        )
    return name


def check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise UserError(f"the password must have at least {MIN_PASSWORD_LENGTH} characters")
    if len(password) > MAX_PASSWORD_LENGTH:
        raise UserError(f"the password must have at most {MAX_PASSWORD_LENGTH} characters")
    if password != password.strip():
        raise UserError("the password must not begin or end with a space")


def hash_password(password: str) -> str:
    check_password(password)
    return HASHER.hash(password)


def _password_matches(stored_hash: str | None, password: str) -> bool:
    """argon2 check; an unknown or disabled user is checked against a throwaway hash, so the
    answer takes as long whether or not the name exists."""
    try:
        return HASHER.verify(stored_hash or _dummy_hash(), password) and stored_hash is not None
    except (VerificationError, InvalidHashError):
        return False


_DUMMY: list[str] = []


def _dummy_hash() -> str:
    if not _DUMMY:
        _DUMMY.append(HASHER.hash(secrets.token_urlsafe(16)))
    return _DUMMY[0]


# --- managing users -------------------------------------------------------------------


def find_agency(session: Session, code: str) -> Agency:
    agency = session.scalars(select(Agency).where(Agency.code == code.strip().upper())).first()
    if agency is None:
        known = ", ".join(session.scalars(select(Agency.code).order_by(Agency.code))) or "none"
        raise UnknownAgency(
            f"no agency {code!r} (known: {known}; add one with `hotline agencies add`)"
        )
    return agency


def add_agency(session: Session, code: str, name: str, *, actor: str, now: dt.datetime) -> Agency:
    clean = code.strip().upper()
    if not 1 <= len(clean) <= 32 or not all(
        ch.isascii() and (ch.isalnum() or ch in "-_") for ch in clean
    ):
        raise UserError(f"agency code {code!r}: 1 to 32 letters, digits, - or _")
    if len(name.strip()) > 200:
        raise UserError("the agency's name must have at most 200 characters")
    agency = Agency(code=clean, name=name.strip() or clean, created_at=now)
    try:
        with session.begin_nested():
            session.add(agency)
    except IntegrityError:
        raise UserError(f"agency {clean} exists already") from None
    audit.record(
        session,
        actor=actor,
        action="agency.added",
        entity_type="agency",
        entity_id=clean,
        data={"name": agency.name},
        now=now,
    )
    return agency


@dataclass(frozen=True)
class NewUser:
    username: str
    role: DeskRole
    display_name: str = ""
    language: Language = Language.EN
    time_zone: str = "America/New_York"
    phone: str | None = None
    agency: str | None = None
    waiver_limit_minor: int = 0
    waiver_currency: str = "USD"
    # The region a phone given without its country code is read in.
    phone_region: str = "US"


def add_user(
    session: Session, new: NewUser, password: str, *, actor: str, now: dt.datetime
) -> DeskUser:
    """Create a desk user; UserError (with the reason) for anything wrong in `new`."""
    username = check_username(new.username)
    try:
        ZoneInfo(new.time_zone)
    except (ZoneInfoNotFoundError, ValueError):
        raise UserError(
            f"{new.time_zone!r} is not an IANA time zone (e.g. Asia/Shanghai)"
        ) from None
    phone = None
    if new.phone:
        try:
            phone = parse_phone(new.phone, new.phone_region).e164
        except PhoneError as exc:
            raise UserError(f"phone: {exc}") from None
    if new.waiver_limit_minor < 0:
        raise UserError("the waiver limit must not be negative")
    if new.waiver_limit_minor > MAX_WAIVER_LIMIT_MINOR:
        raise UserError("the waiver limit is larger than any balance could be")
    if len(new.display_name.strip()) > 100:
        raise UserError("the name must have at most 100 characters")
    if new.agency and DeskRole(new.role) == DeskRole.ADMIN:
        raise UserError("an admin reaches every account: an admin belongs to no agency")
    try:
        currency = normalise_currency(new.waiver_currency)
    except MoneyError as exc:
        raise UserError(str(exc)) from None
    agency = find_agency(session, new.agency) if new.agency else None
    user = DeskUser(
        username=username,
        password_hash=hash_password(password),
        password_changed_at=now,
        role=DeskRole(new.role),
        display_name=new.display_name.strip() or username,
        language=Language(new.language),
        time_zone=new.time_zone,
        phone=phone,
        agency_id=agency.id if agency else None,
        waiver_limit_minor=new.waiver_limit_minor,
        waiver_currency=currency,
        created_at=now,
    )
    # The unique key decides a duplicate, not a look first (two admins adding at once).
    try:
        with session.begin_nested():
            session.add(user)
    except IntegrityError:
        raise UserError(f"user {username} exists already") from None
    audit.record(
        session,
        actor=actor,
        action="user.added",
        entity_type="desk_user",
        entity_id=username,
        data={
            "role": str(user.role),
            "agency": agency.code if agency else None,
            "language": str(user.language),
            "time_zone": user.time_zone,
            "waiver_limit_minor": user.waiver_limit_minor,
            "waiver_currency": currency,
            "phone_set": phone is not None,
        },
        now=now,
    )
    return user


def get_user(session: Session, username: str) -> DeskUser:
    name = normalise_username(username)
    user = session.scalars(select(DeskUser).where(DeskUser.username == name)).first()
    if user is None:
        raise UnknownUser(f"no user {username!r}")
    return user


def reset_password(
    session: Session, username: str, password: str, *, actor: str, now: dt.datetime
) -> DeskUser:
    """Set a new password; the user's sessions end and their failed sign-ins stop counting."""
    user = get_user(session, username)
    user.password_hash = hash_password(password)
    user.password_changed_at = now
    _sign_out_everywhere(session, user, "password_reset", actor=actor, now=now)
    return user


def disable_user(session: Session, username: str, *, actor: str, now: dt.datetime) -> bool:
    """Refuse the user's sign-ins from now on and end their sessions; False if already so."""
    user = get_user(session, username)
    if user.disabled_at is not None:
        return False
    user.disabled_at = now
    _sign_out_everywhere(session, user, "disabled", actor=actor, now=now)
    return True


def _sign_out_everywhere(
    session: Session, user: DeskUser, change: str, *, actor: str, now: dt.datetime
) -> None:
    """End every session of a user whose password or status just changed, audited as
    `user.<change>` with how many sessions ended."""
    ended = end_sessions(session, user.id, reason=change.replace("_", "-"), now=now)
    audit.record(
        session,
        actor=actor,
        action=f"user.{change}",
        entity_type="desk_user",
        entity_id=user.username,
        data={"sessions_ended": ended},
        now=now,
    )


def list_users(session: Session) -> Sequence[DeskUser]:
    return session.scalars(select(DeskUser).order_by(DeskUser.username)).all()


# --- sessions -------------------------------------------------------------------------


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def open_session(
    session: Session, user_id: int, *, address: str, user_agent: str, now: dt.datetime
) -> str:
    """A new session for the user; the token goes in the cookie and nowhere else."""
    token = secrets.token_urlsafe(32)
    session.add(
        DeskSession(
            token_hash=_token_hash(token),
            user_id=user_id,
            address=address[:64],
            user_agent=user_agent[:200],
            created_at=now,
            last_seen_at=now,
        )
    )
    session.flush()
    return token


def resolve_session(session: Session, token: str, *, now: dt.datetime) -> DeskUser | None:
    """The user a live session token belongs to (its last-seen time kept fresh), or None
    for an unknown, ended, idle or too old session or a disabled user."""
    row = session.execute(
        select(DeskSession, DeskUser)
        .join(DeskUser, DeskUser.id == DeskSession.user_id)
        .where(DeskSession.token_hash == _token_hash(token))
    ).first()
    if row is None:
        return None
    desk_session, user = row
    if desk_session.ended_at is not None or user.disabled_at is not None:
        return None
    if (
        now - desk_session.last_seen_at > SESSION_IDLE
        or now - desk_session.created_at > SESSION_MAX
    ):
        desk_session.ended_at, desk_session.end_reason = now, "expired"
        return None
    if now - desk_session.last_seen_at >= SESSION_TOUCH_EVERY:
        desk_session.last_seen_at = now
        user.last_seen_at = now
    return user


def end_session(session: Session, token: str, *, reason: str, now: dt.datetime) -> int | None:
    """End one session; the user's id, or None if it was not open."""
    desk_session = session.scalars(
        select(DeskSession).where(
            DeskSession.token_hash == _token_hash(token), DeskSession.ended_at.is_(None)
        )
    ).first()
    if desk_session is None:
        return None
    desk_session.ended_at, desk_session.end_reason = now, reason
    return desk_session.user_id


def end_sessions(session: Session, user_id: int, *, reason: str, now: dt.datetime) -> int:
    """End every open session of a user; how many there were."""
    result = session.execute(
        update(DeskSession)
        .where(DeskSession.user_id == user_id, DeskSession.ended_at.is_(None))
        .values(ended_at=now, end_reason=reason)
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


def signed_in_users(session: Session, *, now: dt.datetime) -> Sequence[DeskUser]:
    """Users with a session that is open and not idle (e.g. the agents signed in now)."""
    live = select(DeskSession.user_id).where(
        DeskSession.ended_at.is_(None),
        DeskSession.last_seen_at > now - SESSION_IDLE,
        DeskSession.created_at > now - SESSION_MAX,
    )
    return session.scalars(
        select(DeskUser)
        .where(DeskUser.id.in_(live), DeskUser.disabled_at.is_(None))
        .order_by(DeskUser.display_name)
    ).all()


# --- signing in -------------------------------------------------------------------------


@dataclass(frozen=True)
class SignedIn:
    user_id: int
    token: str


@dataclass(frozen=True)
class Failed:
    """Wrong name or password (which of the two is not said)."""


@dataclass(frozen=True)
class Refused:
    """Too many failures for this name or from this address; try again after."""

    retry_after: dt.timedelta
    by: str  # "user" or "address", for the audit; the person is told neither


SignInResult = SignedIn | Failed | Refused
_FAILING = (LoginOutcome.PENDING, LoginOutcome.FAILED)


def audited_name(typed: str, user: DeskUser | None) -> str:
    """The name a sign-in attempt is audited under: the user's, or for a name no user has,
    a digest of it. People type their password into the name field; the audit chain keeps
    what it is given forever, so it never gets an unknown name as typed (login_attempt
    keeps it for the rate limit, and can be purged)."""
    if user is not None:
        return user.username
    return "unknown-" + hashlib.sha256(typed.encode()).hexdigest()[:12]


def _lock_key(kind: str, value: str) -> int:
    digest = hashlib.sha256(f"hotline-desk-login:{kind}:{value}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def _retry_after(
    session: Session, where: list[object], limit: int, window: dt.timedelta, now: dt.datetime
) -> dt.timedelta | None:
    """None if fewer than `limit` failures match; else how long until one ages out."""
    failures = session.scalars(
        select(LoginAttempt.attempted_at)
        .where(*where, LoginAttempt.outcome.in_(_FAILING))  # type: ignore[arg-type]
        .order_by(LoginAttempt.attempted_at.desc())
        .limit(limit)
    ).all()
    if len(failures) < limit:
        return None
    return max(failures[-1] + window - now, dt.timedelta(seconds=1))


def _begin_attempt(
    session: Session, username: str, address: str, *, now: dt.datetime, limits: LoginLimits
) -> tuple[int, DeskUser | None] | Refused:
    if session.get_bind().dialect.name == "postgresql":
        for key in (_lock_key("user", username), _lock_key("address", address)):
            session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})
    user = session.scalars(select(DeskUser).where(DeskUser.username == username)).first()
    since = now - limits.window
    last_success = session.scalar(
        select(func.max(LoginAttempt.attempted_at)).where(
            LoginAttempt.username == username, LoginAttempt.outcome == LoginOutcome.SUCCEEDED
        )
    )
    user_since = max(
        [since] + [t for t in (last_success, user.password_changed_at if user else None) if t]
    )
    refused: Refused | None = None
    wait = _retry_after(
        session,
        [LoginAttempt.username == username, LoginAttempt.attempted_at > user_since],
        limits.per_user,
        limits.window,
        now,
    )
    if wait is not None:
        refused = Refused(wait, "user")
    else:
        wait = _retry_after(
            session,
            [LoginAttempt.address == address, LoginAttempt.attempted_at > since],
            limits.per_address,
            limits.window,
            now,
        )
        if wait is not None:
            refused = Refused(wait, "address")
    attempt = LoginAttempt(
        username=username,
        address=address,
        user_id=user.id if user else None,
        outcome=LoginOutcome.REFUSED if refused else LoginOutcome.PENDING,
        attempted_at=now,
    )
    session.add(attempt)
    session.flush()
    if refused is not None:
        shown = audited_name(username, user)
        audit.record(
            session,
            actor=f"desk:{shown}",
            action="desk.sign_in_refused",
            entity_type="desk_user",
            entity_id=shown,
            data={"address": address, "limit": refused.by},
            now=now,
        )
        return refused
    return attempt.id, user


def sign_in(
    sessions: sessionmaker[Session],
    username: str,
    password: str,
    *,
    address: str,
    user_agent: str = "",
    now: dt.datetime | None = None,
    limits: LoginLimits | None = None,
) -> SignInResult:
    """Check a name and password within the rate limit; open a session if they are right.

    Every outcome is audited: signed in, failed (with why, for the auditor only), refused."""
    now = now or utcnow()
    limits = limits or LIMITS
    name = normalise_username(username)[:USERNAME_MAX]
    address = address[:64] or "unknown"
    with sessions.begin() as session:
        begun = _begin_attempt(session, name, address, now=now, limits=limits)
        if isinstance(begun, Refused):
            return begun
        attempt_id, user = begun
        stored = user.password_hash if user is not None and user.disabled_at is None else None
    matches = _password_matches(stored, password)
    with sessions.begin() as session:
        attempt = session.get(LoginAttempt, attempt_id)
        assert attempt is not None
        if not matches or user is None:
            attempt.outcome = LoginOutcome.FAILED
            reason = (
                "unknown user"
                if user is None
                else "disabled"
                if user.disabled_at is not None
                else "wrong password"
            )
            shown = audited_name(name, user)
            audit.record(
                session,
                actor=f"desk:{shown}",
                action="desk.sign_in_failed",
                entity_type="desk_user",
                entity_id=shown,
                data={"address": address, "reason": reason},
                now=now,
            )
            return Failed()
        attempt.outcome = LoginOutcome.SUCCEEDED
        row = session.get(DeskUser, user.id)
        assert row is not None
        if HASHER.check_needs_rehash(row.password_hash):
            row.password_hash = HASHER.hash(password)
        row.last_seen_at = now
        token = open_session(session, row.id, address=address, user_agent=user_agent, now=now)
        audit.record(
            session,
            actor=f"desk:{name}",
            action="desk.signed_in",
            entity_type="desk_user",
            entity_id=name,
            data={"address": address},
            now=now,
        )
        return SignedIn(row.id, token)


def sign_out(session: Session, token: str, *, address: str, now: dt.datetime) -> bool:
    """End the session the token names, audited; False if it was not open."""
    user_id = end_session(session, token, reason="signed-out", now=now)
    if user_id is None:
        return False
    user = session.get(DeskUser, user_id)
    name = user.username if user else str(user_id)
    audit.record(
        session,
        actor=f"desk:{name}",
        action="desk.signed_out",
        entity_type="desk_user",
        entity_id=name,
        data={"address": address},
        now=now,
    )
    return True
