"""The fake carrier cannot drift from the port it stands in for.

mypy checks the assignment below and every override (tests/fakes.py is in mypy's files);
at run time every public method of CallGateway must be on the fake with the very same
signature, annotations included, so a method added to or changed on the port fails here
until the fake follows.
"""

from __future__ import annotations

import datetime as dt
import inspect

import pytest

from telephony.gateway import CallGateway, CallInfo, CallRequest, GatewayError
from tests.fakes import FakeCallGateway, Redirect

# Checked by mypy: the fake is a CallGateway wherever one is taken.
gateway: CallGateway = FakeCallGateway()


def port_methods(port: type) -> dict[str, inspect.Signature]:
    """The public methods a port declares, by name, with their resolved signatures."""
    return {
        name: inspect.signature(member, eval_str=True)
        for name, member in inspect.getmembers(port, inspect.isfunction)
        if not name.startswith("_")
    }


def drift(port: type, implementation: type) -> list[str]:
    """How `implementation` differs from `port`: missing methods, other signatures, and
    abstract methods left unimplemented."""
    found = port_methods(implementation)
    problems = []
    for name, signature in port_methods(port).items():
        if name not in found:
            problems.append(f"{name}: missing")
        elif found[name] != signature:
            problems.append(f"{name}: {found[name]} is not the port's {signature}")
    for name in sorted(getattr(implementation, "__abstractmethods__", ())):
        problems.append(f"{name}: still abstract")
    return problems


def test_the_fake_has_every_method_of_the_port_with_its_signature() -> None:
    assert set(port_methods(CallGateway)) == {
        "place_call",
        "fetch",
        "list_calls",
        "redirect",
        "hangup",
        "send_sms",
        "list_messages",
        "pause_recording",
        "resume_recording",
    }
    assert drift(CallGateway, FakeCallGateway) == []


def test_the_drift_check_catches_a_changed_and_a_missing_method() -> None:
    class Drifted(CallGateway):
        def place_call(self, request: CallRequest) -> CallInfo:
            raise NotImplementedError

        def fetch(self, sid: str, extra: int = 0) -> CallInfo:  # a parameter the port lacks
            raise NotImplementedError

        def hangup(self, sid: int) -> CallInfo:  # type: ignore[override]
            raise NotImplementedError

    problems = drift(CallGateway, Drifted)
    assert [p.split(":")[0] for p in problems if "abstract" not in p] == [
        "fetch",
        "hangup",
        # list_calls, redirect, send_sms, list_messages, pause_recording and
        # resume_recording are inherited from the port unimplemented: the same signature,
        # but still abstract.
    ]
    assert {p.split(":")[0] for p in problems if "abstract" in p} == {
        "list_calls",
        "redirect",
        "send_sms",
        "list_messages",
        "pause_recording",
        "resume_recording",
    }


def test_it_keeps_what_it_was_asked_in_order() -> None:
    fake = FakeCallGateway()
    placed = fake.place_call(CallRequest(to="+14155550100", from_="+18005550100", url="https://x/"))
    assert placed.sid.startswith("CA") and len(placed.sid) == 34
    assert placed.status == "queued"
    assert fake.pause_recording("CA1") == "paused"
    assert fake.resume_recording("CA1") == "in-progress"
    message = fake.send_sms("+14155550100", "+18005550100", "Your reference is P000001.")
    assert message.body == "Your reference is P000001."
    assert fake.redirect(placed.sid, "https://x/next").sid == placed.sid
    assert fake.fetch(placed.sid) == placed
    # Not answered yet: hanging up cancels it; an inbound call in progress is completed.
    assert fake.hangup(placed.sid).status == "canceled"
    assert fake.hangup("CA2").status == "completed"
    assert [r.to for r in fake.placed] == ["+14155550100"]
    assert fake.paused == ["CA1"] and fake.resumed == ["CA1"]
    assert [m.to for m in fake.sms] == ["+14155550100"]
    assert fake.redirects == [Redirect(placed.sid, "https://x/next")]
    assert fake.hangups == [placed.sid, "CA2"]
    assert fake.refused == []


def test_it_lists_the_calls_it_placed_to_a_number_since_a_moment() -> None:
    fake = FakeCallGateway()
    moments = iter([dt.datetime(2026, 12, 1, 15, 0, s, tzinfo=dt.UTC) for s in (0, 10, 20)])
    fake.now = lambda: next(moments)
    first = fake.place_call(CallRequest(to="+14155550100", from_="+18005550100", url="https://x/"))
    fake.place_call(CallRequest(to="+14155550199", from_="+18005550100", url="https://x/"))
    third = fake.place_call(CallRequest(to="+14155550100", from_="+18005550100", url="https://x/"))
    since = dt.datetime(2026, 12, 1, 15, 0, 5, tzinfo=dt.UTC)
    assert [c.sid for c in fake.list_calls("+14155550100", since)] == [third.sid]
    assert [c.sid for c in fake.list_calls("+14155550100", since.replace(second=0))] == [
        first.sid,
        third.sid,
    ]
    assert fake.listed == [("+14155550100", since), ("+14155550100", since.replace(second=0))]


def test_a_switched_method_refuses_like_the_carrier_and_does_nothing() -> None:
    fake = FakeCallGateway()
    fake.fail("pause_recording", GatewayError("not recording", code=21220, status=400))
    with pytest.raises(GatewayError) as refused:
        fake.pause_recording("CA1")
    assert refused.value.code == 21220
    assert fake.paused == []
    assert fake.refused == [("pause_recording", "CA1")]
    # The other methods still work; clearing the switch lets the method work again.
    assert fake.resume_recording("CA1") == "in-progress"
    fake.failing.clear()
    assert fake.pause_recording("CA1") == "paused"


def test_only_a_method_of_the_port_can_be_switched_to_fail() -> None:
    with pytest.raises(AttributeError, match="pause_recordings"):
        FakeCallGateway().fail("pause_recordings")
