"""Queues through the twilio SDK: the Queue and Member resources, <Dial><Queue>, and every
QueueResult an <Enqueue> can end with in the simulator."""

from __future__ import annotations

import pytest
import requests
from twilio.base.exceptions import TwilioRestException

from hotline.settings import DEV_ACCOUNT_SID
from tests.e2e.conftest import AUTH_TOKEN
from tests.e2e.scripted_app import children, ring, said, scripted_app, wait_until  # noqa: F401

CALLER, OTHER_CALLER = "+14155550100", "+14155550111"
AGENT, AGENT_PHONE = "+14155550177", "+14155550299"
ENQUEUE = '<Enqueue waitUrl="/hold" action="/left">agents</Enqueue><Say>After the queue.</Say>'
HOLD = "<Say>Please hold.</Say><Pause length='10'/>"


def waiting(simulator, name="agents", count=1):
    queues = simulator.carrier.queues
    wait_until(lambda: name in queues and len(queues[name].waiting) >= count)
    return queues[name]


@pytest.mark.realtime
def test_queues_and_members_read_through_the_sdk_and_a_chosen_caller_is_taken(
    simulator, gateway, app
):
    client = gateway.client
    created = client.queues.create(friendly_name="agents", max_size=10)
    assert created.sid.startswith("QU") and created.max_size == 10 and created.current_size == 0
    app.docs["/voice"] = ENQUEUE
    app.docs["/hold"] = HOLD
    app.docs["/to-agent"] = f'<Dial action="/agent-done"><Number>{AGENT_PHONE}</Number></Dial>'
    first = ring(simulator, app, "/voice", CALLER)
    waiting(simulator)
    second = ring(simulator, app, "/voice", OTHER_CALLER)
    waiting(simulator, count=2)

    [listed] = client.queues.list()
    assert listed.sid == created.sid and listed.friendly_name == "agents"
    fetched = client.queues(created.sid).fetch()
    assert fetched.current_size == 2 and fetched.max_size == 10
    assert fetched.average_wait_time >= 0
    members = client.queues(created.sid).members.list()
    assert [(m.call_sid, m.position) for m in members] == [(first.sid, 1), (second.sid, 2)]
    assert client.queues(created.sid).members("Front").fetch().call_sid == first.sid

    # The agent takes the second caller, not the first: that call leaves the queue at once.
    taken = client.queues(created.sid).members(second.sid).update(url=app.url("/to-agent"))
    assert taken.call_sid == second.sid
    assert client.queues(created.sid).fetch().current_size == 1
    simulator.carrier.wait(second.sid, timeout=30)
    [left] = app.forms("/left")
    assert left["CallSid"] == second.sid and left["QueueResult"] == "redirected"
    assert left["QueueSid"] == created.sid and int(left["QueueTime"]) >= 0
    assert "After the queue." not in said(second)  # the call went to Url, not on
    [agent_leg] = children(simulator, second)
    assert agent_leg.to == AGENT_PHONE
    assert client.calls(agent_leg.sid).fetch().parent_call_sid == second.sid
    assert app.forms("/agent-done")[0]["DialCallStatus"] == "completed"
    client.calls(first.sid).update(status="completed")
    simulator.carrier.wait(first.sid, timeout=30)


def test_unknown_queues_and_members_are_20404_and_a_dequeue_needs_a_url(simulator, gateway):
    client = gateway.client
    with pytest.raises(TwilioRestException) as unknown:
        client.queues("QU" + "0" * 32).fetch()
    assert unknown.value.status == 404 and unknown.value.code == 20404
    queue = client.queues.create(friendly_name="empty")
    for member in ("Front", "CA" + "1" * 32):
        with pytest.raises(TwilioRestException) as missing:
            client.queues(queue.sid).members(member).update(url="https://example.com/x")
        assert missing.value.code == 20404
    assert client.queues(queue.sid).members.list() == []
    bare = requests.post(
        f"{simulator.base_url}/2010-04-01/Accounts/{DEV_ACCOUNT_SID}/Queues/{queue.sid}"
        "/Members/Front.json",
        auth=(DEV_ACCOUNT_SID, AUTH_TOKEN),
        timeout=5,
    )
    assert bare.status_code == 400 and bare.json()["code"] == 20001


@pytest.mark.realtime
def test_dialing_a_queue_plays_its_url_to_the_caller_then_bridges(simulator, app):
    app.docs["/voice"] = ENQUEUE
    app.docs["/hold"] = HOLD
    app.docs["/agent"] = (
        '<Dial action="/agent-done"><Queue url="/about-to-connect">agents</Queue></Dial>'
    )
    app.docs["/about-to-connect"] = "<Say>You will now be connected to an agent.</Say>"
    caller = ring(simulator, app, "/voice", CALLER, talk_seconds=8)
    waiting(simulator)
    agent = ring(simulator, app, "/agent", AGENT)
    simulator.carrier.wait(caller.sid, timeout=30)
    simulator.carrier.wait(agent.sid, timeout=30)

    [connect] = app.forms("/about-to-connect")
    assert connect["CallSid"] == caller.sid and connect["DequeingCallSid"] == agent.sid
    assert connect["QueueSid"].startswith("QU") and int(connect["QueueTime"]) >= 0
    assert "You will now be connected to an agent." in said(caller)
    assert "You will now be connected to an agent." not in said(agent)
    [done] = app.forms("/agent-done")
    assert done["DialCallStatus"] == "completed" and done["DialBridged"] == "true"
    assert done["QueueSid"] == connect["QueueSid"] and done["DequeuedCallSid"] == caller.sid
    assert int(done["DequeuedCallQueueTime"]) == int(connect["QueueTime"])
    assert done["DialCallDuration"] == "8" == done["DequeuedCallDuration"]
    [left] = app.forms("/left")
    assert left["QueueResult"] == "bridged" and "After the queue." not in said(caller)


def test_dialing_a_queue_that_does_not_exist_posts_an_error_status(simulator, app):
    app.docs["/agent"] = '<Dial action="/agent-done"><Queue>nobody-made-this</Queue></Dial>'
    simulator.carrier.wait(ring(simulator, app, "/agent", AGENT).sid)
    [done] = app.forms("/agent-done")
    assert done["DialCallStatus"] == "failed" and "DialCallSid" not in done


def test_dialing_an_empty_queue_waits_for_the_timeout(simulator, gateway, app):
    queue = gateway.client.queues.create(friendly_name="agents")
    app.docs["/agent"] = '<Dial action="/agent-done" timeout="12"><Queue>agents</Queue></Dial>'
    agent = simulator.carrier.wait(ring(simulator, app, "/agent", AGENT).sid)
    [done] = app.forms("/agent-done")
    assert done["DialCallStatus"] == "no-answer" and done["QueueSid"] == queue.sid
    assert agent.duration is not None and agent.duration >= 12


def test_a_gather_in_the_wait_url_lets_the_caller_leave(simulator, app):
    app.docs["/voice"] = ENQUEUE
    app.docs["/hold"] = (
        '<Gather numDigits="1" action="/hold-choice"><Say>Press 1 to leave a message.</Say>'
        "</Gather>"
    )
    app.docs["/hold-choice"] = lambda form: (
        "<Leave/>" if form.get("Digits") == "1" else "<Say>Still holding.</Say>"
    )
    caller = simulator.carrier.wait(ring(simulator, app, "/voice", CALLER, keys="1").sid)
    [hold] = app.forms("/hold")
    assert hold["QueuePosition"] == "1" and hold["CurrentQueueSize"] == "1"
    assert hold["MaxQueueSize"] == "1000" and hold["AvgQueueTime"] == "0"
    assert app.forms("/hold-choice")[0]["Digits"] == "1"
    [left] = app.forms("/left")
    assert left["QueueResult"] == "leave"
    assert "Press 1 to leave a message." in said(caller)


def test_redirect_and_hangup_in_the_wait_url(simulator, app):
    app.docs["/voice"] = ENQUEUE
    app.docs["/hold"] = "<Say>One moment.</Say><Redirect>/hold-2</Redirect>"
    app.docs["/hold-2"] = "<Say>Nobody is free. Goodbye.</Say><Hangup/>"
    caller = simulator.carrier.wait(ring(simulator, app, "/voice", CALLER).sid)
    assert said(caller)[:2] == ["One moment.", "Nobody is free. Goodbye."]
    [left] = app.forms("/left")
    assert left["QueueResult"] == "hangup" and left["CallStatus"] == "completed"
    assert "After the queue." not in said(caller)


@pytest.mark.parametrize("hold", ["/fail-hold", "/bad-hold"])
def test_a_broken_wait_url_leaves_the_queue_with_error_and_the_call_goes_on(simulator, app, hold):
    app.docs["/voice"] = f'<Enqueue waitUrl="{hold}" action="/left">agents</Enqueue>'
    app.docs["/bad-hold"] = "<Dial>+14155550199</Dial>"  # not allowed in a waitUrl
    app.docs["/left"] = "<Say>Sorry, please call again.</Say>"
    caller = simulator.carrier.wait(ring(simulator, app, "/voice", CALLER).sid)
    [left] = app.forms("/left")
    assert left["QueueResult"] == "error"
    assert "Sorry, please call again." in said(caller)


def test_an_empty_queue_name_is_an_error_without_a_queue_sid(simulator, app):
    app.docs["/voice"] = '<Enqueue action="/left"></Enqueue>'
    simulator.carrier.wait(ring(simulator, app, "/voice", CALLER).sid)
    [left] = app.forms("/left")
    assert left["QueueResult"] == "error" and "QueueSid" not in left


@pytest.mark.realtime
def test_a_full_queue_turns_the_next_caller_away(simulator, gateway, app):
    gateway.client.queues.create(friendly_name="agents", max_size=1)
    app.docs["/voice"] = ENQUEUE
    app.docs["/hold"] = HOLD
    first = ring(simulator, app, "/voice", CALLER)
    waiting(simulator)
    second = simulator.carrier.wait(ring(simulator, app, "/voice", OTHER_CALLER).sid, timeout=30)
    [left] = app.forms("/left")
    assert left["CallSid"] == second.sid and left["QueueResult"] == "queue-full"
    assert "QueueSid" not in left and "QueueTime" not in left
    gateway.client.calls(first.sid).update(status="completed")
    simulator.carrier.wait(first.sid, timeout=30)


@pytest.mark.realtime
def test_a_calls_api_redirect_takes_the_caller_out_of_the_queue(simulator, gateway, app):
    app.docs["/voice"] = ENQUEUE
    app.docs["/hold"] = HOLD
    app.docs["/elsewhere"] = "<Say>Redirected.</Say>"
    caller = ring(simulator, app, "/voice", CALLER)
    queue = waiting(simulator)
    gateway.client.calls(caller.sid).update(url=app.url("/elsewhere"))
    simulator.carrier.wait(caller.sid, timeout=30)
    assert app.forms("/left")[0]["QueueResult"] == "redirected"
    assert "Redirected." in said(caller) and queue.waiting == []


@pytest.mark.realtime
def test_hanging_up_during_the_queue_url_is_bridging_in_process(simulator, app):
    app.docs["/voice"] = ENQUEUE
    app.docs["/hold"] = HOLD
    app.docs["/agent"] = (
        '<Dial action="/agent-done" timeout="3"><Queue url="/long-notice">agents</Queue></Dial>'
    )
    app.docs["/long-notice"] = "<Say>This call may be recorded.</Say><Pause length='120'/>"
    caller = ring(simulator, app, "/voice", CALLER, hangup_after=40)
    waiting(simulator)
    agent = ring(simulator, app, "/agent", AGENT)
    simulator.carrier.wait(caller.sid, timeout=30)
    simulator.carrier.wait(agent.sid, timeout=30)
    assert app.forms("/left")[0]["QueueResult"] == "bridging-in-process"
    assert app.forms("/agent-done")[0]["DialCallStatus"] == "no-answer"


@pytest.mark.realtime
def test_redirecting_a_bridged_caller_is_redirected_from_bridged(simulator, gateway, app):
    app.docs["/voice"] = ENQUEUE
    app.docs["/hold"] = HOLD
    app.docs["/agent"] = '<Dial action="/agent-done"><Queue>agents</Queue></Dial>'
    app.docs["/survey"] = "<Say>Please rate the call.</Say>"
    caller = ring(simulator, app, "/voice", CALLER, talk_seconds=300)
    waiting(simulator)
    agent = ring(simulator, app, "/agent", AGENT)
    wait_until(lambda: any(e.kind == "bridged" for e in caller.transcript))
    gateway.client.calls(caller.sid).update(url=app.url("/survey"))
    simulator.carrier.wait(caller.sid, timeout=30)
    simulator.carrier.wait(agent.sid, timeout=30)
    assert app.forms("/left")[0]["QueueResult"] == "redirected-from-bridged"
    assert "Please rate the call." in said(caller)
    done = app.forms("/agent-done")[0]
    assert done["DialCallStatus"] == "completed" and int(done["DialCallDuration"]) < 300


@pytest.mark.realtime
def test_the_agent_hanging_up_ends_the_bridge_and_the_caller_hears_the_action(
    simulator, gateway, app
):
    app.docs["/voice"] = ENQUEUE
    app.docs["/hold"] = HOLD
    app.docs["/agent"] = '<Dial action="/agent-done"><Queue>agents</Queue></Dial>'
    app.docs["/left"] = "<Say>Thank you for calling.</Say>"
    caller = ring(simulator, app, "/voice", CALLER, talk_seconds=300)
    waiting(simulator)
    agent = ring(simulator, app, "/agent", AGENT)
    wait_until(lambda: any(e.kind == "bridged" for e in caller.transcript))
    gateway.client.calls(agent.sid).update(status="completed")
    simulator.carrier.wait(caller.sid, timeout=30)
    simulator.carrier.wait(agent.sid, timeout=30)
    assert app.forms("/left")[0]["QueueResult"] == "bridged"
    assert "Thank you for calling." in said(caller)
    assert agent.status == "completed"


@pytest.mark.realtime
def test_an_agent_leaving_during_the_queue_url_puts_the_caller_back_in_front(
    simulator, gateway, app
):
    app.docs["/voice"] = ENQUEUE
    app.docs["/hold"] = HOLD
    app.docs["/agent"] = '<Dial action="/agent-done"><Queue url="/notice">agents</Queue></Dial>'
    app.docs["/notice"] = "<Say>This call may be recorded.</Say><Pause length='30'/>"
    caller = ring(simulator, app, "/voice", CALLER)
    queue = waiting(simulator)
    agent = ring(simulator, app, "/agent", AGENT)
    wait_until(lambda: app.forms("/notice"))
    gateway.client.calls(agent.sid).update(status="completed")
    simulator.carrier.wait(agent.sid, timeout=30)
    wait_until(lambda: queue.waiting == [caller.sid], timeout=20)
    members = gateway.client.queues(queue.sid).members.list()
    assert [(m.call_sid, m.position) for m in members] == [(caller.sid, 1)]
    assert app.forms("/left") == []  # still waiting: nothing reported yet
    gateway.client.calls(caller.sid).update(status="completed")
    simulator.carrier.wait(caller.sid, timeout=30)
    assert app.forms("/left")[0]["QueueResult"] == "hangup"
