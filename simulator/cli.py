"""`hotline simulator ...` and `hotline call`: the local carrier and its softphone."""

from __future__ import annotations

import json
import os
import sys

import click

from hotline.cli_errors import check_port_free
from hotline.demo import KNOWN_CALLERS, DemoCaller
from hotline.logs import configure as configure_logging
from hotline.settings import Settings, SettingsError, from_env
from simulator.callees import CalleeMix
from simulator.carrier.delivery import MODES, CallbackDelivery
from simulator.server import DEFAULT_PORT, carrier_from_settings, start
from simulator.softphone import SimulatorClient, SimulatorUnavailable, follow, render, speaker


def _settings() -> Settings:
    try:
        return from_env(os.environ)
    except SettingsError as exc:
        raise click.ClickException(f"configuration: {exc}") from None


def _client(settings: Settings, simulator_url: str | None) -> SimulatorClient:
    return SimulatorClient(
        simulator_url or settings.twilio_api_base_url,
        settings.twilio_account_sid,
        settings.twilio_auth_token,
    )


@click.group("simulator", invoke_without_command=True)
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=DEFAULT_PORT, show_default=True, type=int)
@click.option("--virtual", is_flag=True, help="Virtual clock: calls run without waiting.")
@click.option("--cps", default=1.0, show_default=True, help="Outbound calls per second.")
@click.option(
    "--voice-url",
    default=None,
    help="Where inbound calls go (default: PUBLIC_BASE_URL + /ivr/voice).",
)
@click.option(
    "--mix-seed",
    type=int,
    default=None,
    help="Give unscripted numbers a seeded mix of behaviours (busy, machine, ...).",
)
@click.option(
    "--callbacks",
    type=click.Choice(MODES),
    default="in-order",
    show_default=True,
    help="chaotic: status callbacks late, out of order, some twice (same token), as Twilio may.",
)
@click.option(
    "--callback-seed", type=int, default=0, show_default=True, help="Seed of the chaotic schedule."
)
@click.pass_context
def simulator(
    ctx: click.Context,
    host: str,
    port: int,
    virtual: bool,
    cps: float,
    voice_url: str | None,
    mix_seed: int | None,
    callbacks: str,
    callback_seed: int,
) -> None:
    """Run the local Twilio-compatible carrier (serves until interrupted)."""
    if ctx.invoked_subcommand is not None:
        return
    settings = _settings()
    configure_logging(settings.log_level)
    check_port_free(host, port, "simulator")
    carrier = carrier_from_settings(
        settings, virtual=virtual, calls_per_second=cps, voice_url=voice_url
    )
    if mix_seed is not None:
        carrier.mix = CalleeMix(seed=mix_seed)
    carrier.callback_delivery = CallbackDelivery(mode=callbacks, seed=callback_seed)
    running = start(carrier, host, port)
    click.echo(
        f"simulator on {running.base_url} ({'virtual' if virtual else 'real'} time); "
        f"inbound calls go to {carrier.voice_url}; callbacks {callbacks}; Ctrl-C stops it"
    )
    try:
        running.thread.join()
    except KeyboardInterrupt:
        click.echo("stopping")
    finally:
        running.stop()


@simulator.command("calls")
@click.option("--simulator-url", default=None, help="Default: TWILIO_API_BASE_URL.")
def calls(simulator_url: str | None) -> None:
    """List the simulator's calls, newest first."""
    client = _client(_settings(), simulator_url)
    try:
        listing = client.calls()
    except (SimulatorUnavailable, OSError) as exc:
        raise click.ClickException(str(exc)) from None
    for call in listing:
        click.echo(
            f"{call['sid']}  {call['direction']:<12} {call['from']:>15} -> "
            f"{call['to']:<15} {call['status']:<11} {call['duration'] or 0:>4} s"
        )


@simulator.command("show")
@click.argument("sid")
@click.option("--simulator-url", default=None)
@click.option("--json", "as_json", is_flag=True, help="The raw transcript.")
def show(sid: str, simulator_url: str | None, as_json: bool) -> None:
    """Print one call's transcript."""
    client = _client(_settings(), simulator_url)
    try:
        state = client.call(sid)
    except (SimulatorUnavailable, OSError) as exc:
        raise click.ClickException(str(exc)) from None
    if as_json:
        click.echo(json.dumps(state, indent=2, ensure_ascii=False))
        return
    for line in render(state["transcript"]):
        click.echo(line)


@click.command("call")
@click.option(
    "--from", "caller", default=None, help="Calling number (default: the demo caller for --lang)."
)
@click.option("--lang", type=click.Choice(["en", "zh-CN"]), default="en", show_default=True)
@click.option(
    "--keys",
    default=None,
    help='Keys for successive prompts, e.g. "94107#,1" (non-interactive). Default: typed at '
    "the terminal; off a terminal, the demo caller's digits and 1 (the balance).",
)
@click.option("--speak", is_flag=True, help="Speak prompts with espeak-ng if installed.")
@click.option("--simulator-url", default=None, help="Default: TWILIO_API_BASE_URL.")
def call(
    caller: str | None, lang: str, keys: str | None, speak: bool, simulator_url: str | None
) -> None:
    """Ring the hotline through the simulator and follow the call."""
    settings = _settings()
    client = _client(settings, simulator_url)
    demo = next(c for c in KNOWN_CALLERS if c.language == lang)
    caller = caller or demo.phone
    if keys is None and caller == demo.phone:
        keys = _demo_keys(demo, interactive=sys.stdin.isatty())
    voice = speaker(lang) if speak else None
    if speak and voice is None:
        click.echo("espeak-ng is not installed; printing only", err=True)
    try:
        sid = client.ring(caller, keys=keys, interactive=keys is None)
        read_keys = None if keys is not None else _terminal_keys
        state = follow(client, sid, sys.stdout, read_keys=read_keys, speak=voice)
    except (SimulatorUnavailable, TimeoutError) as exc:
        raise click.ClickException(str(exc)) from None
    if state.get("error_code"):
        raise click.exceptions.Exit(1)


def _demo_keys(demo: DemoCaller, *, interactive: bool) -> str | None:
    """What the demo caller keys when --keys is not given.

    The line knows the demo caller by caller id and asks for the verification digits
    first: a guess such as "1" is a failed verification, and five in a day lock the account.
    On a terminal the person types, told the digits; off one (a script, CI) the call plays
    the verified balance call instead of hanging up at the first prompt.
    """
    if interactive:
        click.echo(
            f"demo caller {demo.phone}: key {demo.verify_digits}# to verify, then 1 for the "
            "balance (Ctrl-D hangs up)",
            err=True,
        )
        return None
    return f"{demo.verify_digits}#,1"


def _terminal_keys() -> str | None:
    try:
        return input("keys> ").strip()
    except EOFError:
        return None
