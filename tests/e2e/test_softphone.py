"""The softphone and the simulator commands, against an in-process simulator."""

from __future__ import annotations

import io

from click.testing import CliRunner

from hotline.cli import cli
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


def test_calls_and_show_read_back_what_happened(simulator, peer):
    simulator.carrier.voice_url = peer[1] + "/menu"
    run(simulator, "call", "--keys", "3")
    [sid] = [c.sid for c in simulator.carrier.list_calls()]
    listing = run(simulator, "simulator", "calls")
    assert sid in listing.stdout and "completed" in listing.stdout
    shown = run(simulator, "simulator", "show", sid)
    assert "KEYS  3" in shown.stdout


def test_a_softphone_without_a_simulator_says_so(simulator):
    env = {"TWILIO_AUTH_TOKEN": AUTH_TOKEN, "TWILIO_API_BASE_URL": "http://127.0.0.1:9"}
    result = CliRunner().invoke(cli, ["call", "--keys", "1"], env=env)
    assert result.exit_code == 1
    assert "is `hotline simulator` running at http://127.0.0.1:9?" in result.output


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
