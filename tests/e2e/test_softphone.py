"""The softphone and the simulator commands, against an in-process simulator."""

from __future__ import annotations

import email.utils
import io
import itertools
import logging
import re
import shlex
import time
from pathlib import Path

import pytest
import requests
from click.testing import CliRunner

from hotline.cli import cli
from hotline.demo import KNOWN_CALLERS
from hotline.settings import DEV_ACCOUNT_SID
from simulator.softphone import SimulatorClient, follow
from tests.e2e.conftest import AUTH_TOKEN


def run(simulator, *args):
    env = {"TWILIO_AUTH_TOKEN": AUTH_TOKEN, "TWILIO_API_BASE_URL": simulator.base_url}
    return CliRunner().invoke(cli, list(args), env=env, catch_exceptions=False)


def test_call_with_keys_prints_a_readable_transcript(simulator, peer):
    recorder, peer_url = peer
    simulator.carrier.voice_url = peer_url + "/menu"
    result = run(simulator, "call", "--keys", "3")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].startswith("[00:00.0] CALL  +14155550100 -> +18005550100")
    assert any('SAY   "Press 1 to pay, 2 for an agent' in line for line in lines)
    assert any(line.endswith("KEYS  3") for line in lines)
    assert any("/choice -> 200  Digits=3" in line for line in lines)
    assert "STATUS completed" in lines[-1]
    assert [s.form.get("Digits") for s in recorder.seen if s.path == "/choice"] == ["3"]


def test_the_chinese_demo_caller_is_the_default_for_zh_cn(simulator, peer):
    simulator.carrier.voice_url = peer[1] + "/menu"
    result = run(simulator, "call", "--lang", "zh-CN", "--keys", "3")
    assert "+8613800138000 -> +18005550100" in result.stdout


def test_an_application_error_is_shown_and_fails_the_command(simulator, peer):
    simulator.carrier.voice_url = peer[1] + "/nowhere"
    result = run(simulator, "call", "--keys", "1")
    assert result.exit_code == 1
    assert "ERROR 11200 HTTP retrieval failure: status 404" in result.stdout
    assert 'SAY   "We are sorry, an application error has occurred. Goodbye."' in result.stdout
    # And the likely cause, in one line, for someone who rang before starting the line.
    [hint] = result.stderr.splitlines()
    assert hint.startswith("Error: the line did not answer the carrier (11200)")
    assert "`hotline serve`" in hint


def test_calls_and_show_read_back_what_happened(simulator, peer):
    simulator.carrier.voice_url = peer[1] + "/menu"
    run(simulator, "call", "--keys", "3")
    [sid] = [c.sid for c in simulator.carrier.list_calls()]
    listing = run(simulator, "simulator", "calls")
    assert sid in listing.stdout and "completed" in listing.stdout
    shown = run(simulator, "simulator", "show", sid)
    assert "KEYS  3" in shown.stdout
    unknown = "CA" + "f" * 32
    missing = run(simulator, "simulator", "show", unknown)
    assert missing.exit_code == 1
    assert missing.stderr.splitlines() == [
        f"Error: no call {unknown} in this simulator (`hotline simulator calls` lists its calls)"
    ]


def test_a_softphone_without_a_simulator_says_so(simulator):
    env = {"TWILIO_AUTH_TOKEN": AUTH_TOKEN, "TWILIO_API_BASE_URL": "http://127.0.0.1:9"}
    result = CliRunner().invoke(cli, ["call", "--keys", "1"], env=env)
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [
        "Error: no simulator answering at http://127.0.0.1:9 (Connection refused): start one "
        "with `hotline simulator`, or point --simulator-url at it"
    ]


def test_interactive_keys_typed_at_each_prompt_reach_the_app(simulator, peer):
    recorder, peer_url = peer
    simulator.carrier.voice_url = peer_url + "/menu"
    client = SimulatorClient(simulator.base_url, DEV_ACCOUNT_SID, AUTH_TOKEN)
    typed = iter(["9", "3", None])
    out = io.StringIO()
    sid = client.ring("+14155550100", interactive=True)
    state = follow(client, sid, out, read_keys=lambda: next(typed))
    assert [s.form.get("Digits") for s in recorder.seen if s.path == "/choice"] == ["9", "3"]
    assert state["status"] == "completed"
    assert "KEYS  9" in out.getvalue()


def test_polling_for_a_transcript_stays_out_of_the_simulators_info_log(simulator, peer, caplog):
    simulator.carrier.voice_url = peer[1] + "/menu"
    with caplog.at_level(logging.INFO, logger="werkzeug"):
        result = run(simulator, "call", "--keys", "3")
    assert result.exit_code == 0, result.output
    logged = [r.getMessage() for r in caplog.records if r.name == "werkzeug"]
    assert any("POST /sim/inbound" in line for line in logged)  # what the person did
    assert not any("GET /sim/calls" in line for line in logged), logged


def test_under_a_virtual_clock_each_call_starts_after_the_last_one_ended(simulator, peer):
    """`hotline simulator --virtual`: time moves with the calls, lists are newest first."""
    assert simulator.carrier.clock.virtual
    simulator.carrier.voice_url = peer[1] + "/menu"
    sids = []
    for keys in ("3", "9,3", "3"):
        run(simulator, "call", "--keys", keys)
        sids.append(simulator.carrier.list_calls()[0].sid)
    calls = [simulator.carrier.get(sid) for sid in sids]
    for before, after in itertools.pairwise(calls):
        assert after.created_at >= before.end_time > before.created_at
    listing = run(simulator, "simulator", "calls").stdout.splitlines()
    assert [line.split()[0] for line in listing] == sids[::-1]
    api = requests.get(
        f"{simulator.base_url}/2010-04-01/Accounts/{DEV_ACCOUNT_SID}/Calls.json",
        auth=(DEV_ACCOUNT_SID, AUTH_TOKEN),
        timeout=10,
    ).json()["calls"]
    assert [c["sid"] for c in api] == sids[::-1]
    created = [email.utils.parsedate_to_datetime(c["date_created"]) for c in api]
    assert created == sorted(created, reverse=True) and len(set(created)) == 3


def test_calls_created_at_the_same_instant_list_newest_first(simulator, gateway, peer):
    from telephony.gateway import CallRequest

    sids = [
        gateway.place_call(
            CallRequest(to=f"+1415555{n:04d}", from_="+18005550100", url=peer[1] + "/answer")
        ).sid
        for n in range(3)
    ]
    simulator.carrier.wait_all()
    assert [c.sid for c in simulator.carrier.list_calls()] == sids[::-1]


# --- the README's calls, on the real line -------------------------------------------------

README = Path(__file__).resolve().parents[2] / "README.md"


def readme_calls() -> list[list[str]]:
    """Every `hotline call ...` command the README shows, as arguments."""
    found = re.findall(r"hotline call( [^`\n]*)?(?:`|\n)", README.read_text(encoding="utf-8"))
    calls = [shlex.split(args.replace("\\|", "|")) for args in found]
    unique = {tuple(args) for args in calls if "|" not in " ".join(args)}  # not the usage table
    return [list(args) for args in sorted(unique)]


def test_the_readme_shows_calls_to_try_and_every_keys_example_verifies_first():
    assert ["--keys", "94107#,1"] in readme_calls()
    assert [] in readme_calls()
    examples = re.findall(r'--keys "([^"]*)"', README.read_text(encoding="utf-8"))
    assert examples
    digits = tuple(f"{caller.verify_digits}#" for caller in KNOWN_CALLERS)
    assert [keys for keys in examples if not keys.startswith(digits)] == []


@pytest.mark.parametrize("args", readme_calls(), ids=" ".join)
def test_every_call_in_the_readme_is_verified_and_hears_the_balance(hotline_app, args):
    env = {
        "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
        "TWILIO_API_BASE_URL": hotline_app.simulator.base_url,
    }
    result = CliRunner().invoke(cli, ["call", *args], env=env, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "did not match" not in result.stdout and "没有匹配" not in result.stdout
    said = [line for line in result.stdout.splitlines() if "SAY" in line]
    assert any("Your current balance is $" in line or "您当前的欠款余额为" in line for line in said)


def test_a_call_without_keys_off_a_terminal_plays_the_demo_callers_balance_call(hotline_app):
    env = {
        "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
        "TWILIO_API_BASE_URL": hotline_app.simulator.base_url,
    }
    result = CliRunner().invoke(cli, ["call", "--lang", "zh-CN"], env=env, input="")
    assert result.exit_code == 0, result.output
    assert "KEYS  100086#" in result.stdout
    assert any("您当前的欠款余额为" in line for line in result.stdout.splitlines())


def test_end_of_input_hangs_up_once_and_the_call_ends_without_waiting(simulator, peer):
    """Ctrl-D at `keys>`: a terminal's end of input comes once, a second read would block."""
    simulator.carrier.voice_url = peer[1] + "/menu"
    client = SimulatorClient(simulator.base_url, DEV_ACCOUNT_SID, AUTH_TOKEN)
    reads: list[float] = []

    def read_keys() -> str | None:
        assert not reads, "asked for keys again after the end of input"
        reads.append(time.monotonic())
        return None

    sid = client.ring("+14155550100", interactive=True)
    state = follow(client, sid, io.StringIO(), read_keys=read_keys)
    assert state["status"] == "completed"
    # The menu's gather waits 5 s for keys; the hang-up does not wait for it to time out.
    assert time.monotonic() - reads[0] < 2.0
