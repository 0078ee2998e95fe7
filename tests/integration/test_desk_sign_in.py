"""Signing in to the desk: passwords, the rate limit (also under a race), sessions, audit."""

from __future__ import annotations

import datetime as dt
import threading

import pytest
from sqlalchemy import func, select

from hotline import users
from hotline.enums import LoginOutcome
from hotline.models import AuditEvent, DeskSession, DeskUser, LoginAttempt, utcnow
from tests.conftest import backend
from tests.desk_support import PASSWORD, csrf_token, make_user

pytestmark = pytest.mark.usefixtures("cheap_passwords")
ADDRESS = "203.0.113.7"


def _outcomes(Session, username: str) -> list[LoginOutcome]:
    with Session.begin() as session:
        return list(
            session.scalars(
                select(LoginAttempt.outcome)
                .where(LoginAttempt.username == username)
                .order_by(LoginAttempt.id)
            )
        )


def _actions(Session) -> list[tuple[str, str]]:
    with Session.begin() as session:
        return [
            (row.action, row.entity_id)
            for row in session.scalars(
                select(AuditEvent).where(AuditEvent.action.like("desk.%")).order_by(AuditEvent.seq)
            )
        ]


def test_passwords_are_stored_as_argon2id_hashes(Session):
    make_user(Session, "ann")
    with Session.begin() as session:
        stored = session.scalars(select(DeskUser.password_hash)).one()
    assert stored.startswith("$argon2id$") and PASSWORD not in stored


def test_a_right_password_signs_in_and_each_outcome_is_audited(Session):
    make_user(Session, "ann")
    assert isinstance(
        users.sign_in(Session, "ann", "wrong password", address=ADDRESS), users.Failed
    )
    assert isinstance(users.sign_in(Session, "nobody", PASSWORD, address=ADDRESS), users.Failed)
    signed = users.sign_in(Session, " ANN ", PASSWORD, address=ADDRESS)
    assert isinstance(signed, users.SignedIn)
    with Session.begin() as session:
        assert users.sign_out(session, signed.token, address=ADDRESS, now=utcnow())
    assert _actions(Session) == [
        ("desk.sign_in_failed", "ann"),
        ("desk.sign_in_failed", users.audited_name("nobody", None)),
        ("desk.signed_in", "ann"),
        ("desk.signed_out", "ann"),
    ]
    with Session.begin() as session:
        reasons = [
            row.data
            for row in session.scalars(
                select(AuditEvent).where(AuditEvent.action == "desk.sign_in_failed")
            )
        ]
    assert all(ADDRESS in data for data in reasons)
    assert '"reason":"wrong password"' in reasons[0] and '"reason":"unknown user"' in reasons[1]


def test_a_name_no_user_has_never_reaches_the_audit_chain_as_typed(Session):
    make_user(Session, "ann")
    typed = "my secret password"  # typed into the name field by mistake
    for _ in range(6):
        users.sign_in(Session, typed, "whatever", address=ADDRESS)
    with Session.begin() as session:
        rows = session.scalars(select(AuditEvent).where(AuditEvent.action.like("desk.%"))).all()
    assert len(rows) == 6 and {r.action for r in rows} == {
        "desk.sign_in_failed",
        "desk.sign_in_refused",
    }
    assert all("secret" not in r.actor + r.entity_id + r.data for r in rows)
    assert rows[0].entity_id.startswith("unknown-")


def test_a_disabled_user_cannot_sign_in_and_their_sessions_end(Session):
    make_user(Session, "ann")
    signed = users.sign_in(Session, "ann", PASSWORD, address=ADDRESS)
    assert isinstance(signed, users.SignedIn)
    with Session.begin() as session:
        assert users.disable_user(session, "ann", actor="test", now=utcnow())
    with Session.begin() as session:
        assert users.resolve_session(session, signed.token, now=utcnow()) is None
    assert isinstance(users.sign_in(Session, "ann", PASSWORD, address=ADDRESS), users.Failed)


def test_the_sixth_failure_in_a_row_for_a_user_is_refused_even_with_the_right_password(Session):
    make_user(Session, "ann")
    now = utcnow()
    for i in range(5):
        result = users.sign_in(Session, "ann", "wrong password", address=f"198.51.100.{i}", now=now)
        assert isinstance(result, users.Failed)
    refused = users.sign_in(Session, "ann", PASSWORD, address="198.51.100.99", now=now)
    assert isinstance(refused, users.Refused) and refused.by == "user"
    assert dt.timedelta(minutes=14) < refused.retry_after <= dt.timedelta(minutes=15)
    assert ("desk.sign_in_refused", "ann") in _actions(Session)
    # Once the failures age out of the window, the right password works again.
    later = now + users.LIMITS.window + dt.timedelta(seconds=1)
    assert isinstance(
        users.sign_in(Session, "ann", PASSWORD, address=ADDRESS, now=later), users.SignedIn
    )


def test_a_success_or_a_password_reset_starts_the_count_afresh(Session):
    make_user(Session, "ann")
    start = utcnow()
    moments = (start + dt.timedelta(seconds=i) for i in range(100))

    def attempt(password: str) -> users.SignInResult:
        return users.sign_in(Session, "ann", password, address=ADDRESS, now=next(moments))

    for _ in range(4):
        assert isinstance(attempt("wrong password"), users.Failed)
    assert isinstance(attempt(PASSWORD), users.SignedIn)
    for _ in range(5):
        assert isinstance(attempt("wrong password"), users.Failed)
    assert isinstance(attempt(PASSWORD), users.Refused)
    with Session.begin() as session:
        users.reset_password(
            session, "ann", "a brand new password", actor="test", now=next(moments)
        )
    assert isinstance(attempt("a brand new password"), users.SignedIn)


def test_many_names_tried_from_one_address_are_refused_there_but_not_elsewhere(
    Session, monkeypatch
):
    monkeypatch.setattr(users, "LIMITS", users.LoginLimits(per_user=5, per_address=4))
    make_user(Session, "ann")
    for name in ("a1", "a2", "a3", "a4"):
        assert isinstance(users.sign_in(Session, name, "guess", address=ADDRESS), users.Failed)
    refused = users.sign_in(Session, "ann", PASSWORD, address=ADDRESS)
    assert isinstance(refused, users.Refused) and refused.by == "address"
    assert isinstance(users.sign_in(Session, "ann", PASSWORD, address="192.0.2.1"), users.SignedIn)


def test_the_sign_in_page_says_why_and_answers_429_when_refused(client, Session):
    make_user(Session, "ann")
    token = csrf_token(client)
    for _ in range(5):
        response = client.post(
            "/desk/login", data={"username": "ann", "password": "nope", "csrf_token": token}
        )
        assert response.status_code == 401
        assert "The user name or password is not right." in response.get_data(as_text=True)
    response = client.post(
        "/desk/login", data={"username": "ann", "password": PASSWORD, "csrf_token": token}
    )
    assert response.status_code == 429
    assert "Too many failed sign-ins. Try again in 15 minutes" in response.get_data(as_text=True)
    assert client.get("/desk/").status_code == 302


def test_concurrent_failed_sign_ins_never_exceed_the_limit(Session):
    """Twenty guesses at once for one name: exactly five are checked, the rest refused
    (PostgreSQL runs them in parallel; SQLite queues them)."""
    make_user(Session, "ann")
    start = threading.Barrier(20)
    results: list[object] = []
    lock = threading.Lock()

    def guess(i: int) -> None:
        start.wait()
        result = users.sign_in(Session, "ann", f"wrong {i}", address=f"198.51.100.{i}")
        with lock:
            results.append(result)

    threads = [threading.Thread(target=guess, args=(i,)) for i in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sum(isinstance(r, users.Failed) for r in results) == 5
    assert sum(isinstance(r, users.Refused) for r in results) == 15
    outcomes = _outcomes(Session, "ann")
    assert outcomes.count(LoginOutcome.FAILED) == 5
    assert outcomes.count(LoginOutcome.REFUSED) == 15
    assert LoginOutcome.PENDING not in outcomes


@pytest.mark.skipif(backend() != "postgresql", reason="a race that only PostgreSQL runs")
def test_concurrent_failures_from_one_address_never_exceed_its_limit(Session, monkeypatch):
    monkeypatch.setattr(users, "LIMITS", users.LoginLimits(per_user=5, per_address=6))
    start = threading.Barrier(16)

    def guess(i: int) -> None:
        start.wait()
        users.sign_in(Session, f"name{i}", "guess", address=ADDRESS)

    threads = [threading.Thread(target=guess, args=(i,)) for i in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    with Session.begin() as session:
        failed = session.scalar(
            select(func.count()).where(
                LoginAttempt.address == ADDRESS, LoginAttempt.outcome == LoginOutcome.FAILED
            )
        )
    assert failed == 6


# --- sessions ---------------------------------------------------------------------------


def _open(Session) -> str:
    make_user(Session, "ann")
    signed = users.sign_in(Session, "ann", PASSWORD, address=ADDRESS)
    assert isinstance(signed, users.SignedIn)
    return signed.token


def test_a_session_idle_for_eight_hours_is_over(Session):
    token = _open(Session)
    now = utcnow()
    with Session.begin() as session:
        assert users.resolve_session(session, token, now=now + dt.timedelta(hours=7)) is not None
    with Session.begin() as session:  # seen at +7 h: idle only from there
        assert users.resolve_session(session, token, now=now + dt.timedelta(hours=11)) is not None
    with Session.begin() as session:
        assert (
            users.resolve_session(session, token, now=now + dt.timedelta(hours=19, minutes=1))
            is None
        )
    with Session.begin() as session:
        ended = session.scalars(select(DeskSession)).one()
        assert ended.end_reason == "expired"


def test_no_session_lasts_beyond_twelve_hours_however_busy(Session):
    token = _open(Session)
    now = utcnow()
    for hours in range(1, 12):
        with Session.begin() as session:
            assert users.resolve_session(session, token, now=now + dt.timedelta(hours=hours))
    with Session.begin() as session:
        assert (
            users.resolve_session(session, token, now=now + dt.timedelta(hours=12, minutes=1))
            is None
        )


def test_a_password_reset_ends_every_session_of_the_user(Session):
    token = _open(Session)
    with Session.begin() as session:
        users.reset_password(session, "ann", "a brand new password", actor="test", now=utcnow())
    with Session.begin() as session:
        assert users.resolve_session(session, token, now=utcnow()) is None


def test_signed_in_users_are_those_with_a_live_session(Session):
    _open(Session)
    make_user(Session, "bob")
    now = utcnow()
    with Session.begin() as session:
        assert [u.username for u in users.signed_in_users(session, now=now)] == ["ann"]
        assert users.signed_in_users(session, now=now + dt.timedelta(hours=9)) == []


def test_only_a_hash_of_the_session_token_is_kept(Session):
    token = _open(Session)
    with Session.begin() as session:
        stored = session.scalars(select(DeskSession.token_hash)).one()
    assert token not in stored and len(stored) == 64


def test_a_hash_made_with_other_parameters_is_upgraded_at_sign_in(Session, monkeypatch):
    make_user(Session, "ann")  # with the tests' cheap hasher
    monkeypatch.setattr(users, "HASHER", users.PasswordHasher(time_cost=2, memory_cost=1024))
    assert isinstance(users.sign_in(Session, "ann", PASSWORD, address=ADDRESS), users.SignedIn)
    with Session.begin() as session:
        stored = session.scalars(select(DeskUser.password_hash)).one()
    assert "$m=1024,t=2," in stored
