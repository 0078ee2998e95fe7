"""The one TwiML builder: what a turn becomes, in order."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from hypothesis import given
from hypothesis import strategies as st

from prompts.catalog import load_all
from telephony.twiml import Links, Renderer, voices_from
from telephony.voice import Ask, Enqueue, Say, Turn, Wait

LINKS = Links(
    step=lambda step: f"https://line.example/ivr/step/{step}",
    pay_action="https://line.example/ivr/pay",
    hold="https://line.example/ivr/hold",
    queue_action="https://line.example/ivr/queued",
    recording_status="https://line.example/ivr/recording",
)


def render(turn: Turn) -> ET.Element:
    renderer = Renderer(load_all(), voices_from("Polly.Joanna", "Polly.Zhiyu"), "Default")
    return ET.fromstring(renderer.render(turn, "en", LINKS))


def test_the_notice_is_said_in_full_before_recording_starts_and_the_menu_is_asked():
    turn = Turn(
        (Say("menu"),),
        Ask("menu", speech_menu="menu"),
        preamble=(Say("recording_notice"),),
        start_recording=True,
    )
    root = render(turn)
    assert [child.tag for child in root] == ["Say", "Start", "Gather"]
    assert root[0].text == "This call may be recorded."
    [recording] = list(root[1])
    assert recording.tag == "Recording"
    assert recording.get("recordingStatusCallback") == LINKS.recording_status
    assert recording.get("recordingStatusCallbackEvent") == "completed"


def test_a_turn_without_recording_has_no_start():
    root = render(Turn((Say("menu"),), Ask("menu")))
    assert [child.tag for child in root] == ["Gather"]


# --- always well-formed XML -----------------------------------------------------------------


@given(st.text(max_size=40))  # any code points: controls, U+FFFE/U+FFFF, lone surrogates
def test_any_text_in_a_prompt_or_an_attribute_still_renders_xml_that_parses(text):
    renderer = Renderer(load_all(), voices_from("Polly.Joanna" + text, "Polly.Zhiyu"), text)
    links = Links(
        step=lambda step: f"https://line.example/ivr/step/{step}{text}",
        pay_action="https://line.example/ivr/pay" + text,
        hold="https://line.example/ivr/hold" + text,
        queue_action="https://line.example/ivr/queued",
        recording_status="https://line.example/ivr/recording",
    )
    for then in (Ask("menu", speech_menu="menu"), Enqueue("collections" + text), Wait(5)):
        turn = Turn((Say("queue_hold", {"position": text}),), then)
        root = ET.fromstring(renderer.render(turn, "en", links))
        assert root.tag == "Response"


def test_what_xml_forbids_is_removed_and_the_rest_is_kept():
    turn = Turn((Say("queue_hold", {"position": "ch_77\uffff\x0b\ud800 中文"}),), Wait(5))
    root = render(turn)
    assert "ch_77 中文" in root[0].text


def test_a_dial_rings_the_number_with_its_action_and_the_announcement_on_answer():
    from telephony.voice import Dial

    links = Links(
        step=LINKS.step,
        pay_action=LINKS.pay_action,
        hold=LINKS.hold,
        queue_action=LINKS.queue_action,
        recording_status=LINKS.recording_status,
        dial_action="https://line.example/ivr/agent/dialed?entry=7",
        dial_answered="https://line.example/ivr/agent/answered?entry=7",
    )
    renderer = Renderer(load_all(), voices_from("Polly.Joanna", "Polly.Zhiyu"), "Default")
    turn = Turn((Say("agent_connecting"),), Dial("+14155550299", caller_id="+18005550100"))
    root = ET.fromstring(renderer.render(turn, "en", links))
    assert [child.tag for child in root] == ["Say", "Dial"]
    dial = root[1]
    assert dial.get("action") == links.dial_action and dial.get("method") == "POST"
    assert dial.get("callerId") == "+18005550100" and dial.get("timeout") == "20"
    [number] = list(dial)
    assert number.tag == "Number" and number.text == "+14155550299"
    assert number.get("url") == links.dial_answered and number.get("method") == "POST"
