"""`hotline simulator ...`, `hotline call` and `hotline sms`: the local carrier, its
softphone, and texting the line."""

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
from simulator.carrier.delivery import SERVED_MODES, CallbackDelivery
from simulator.carrier.sms_rules import well_formed_service_sid
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
    "--sms-url",
    default=None,
    help="Where texts to the line go (default: PUBLIC_BASE_URL + /sms/inbound).",
)
@click.option(
    "--messaging-service",
    default=None,
    help="The account's Messaging Service SID (MG...): accepted as MessagingServiceSid; "
    "texts to the line carry it and OptOutType.",
)
@click.option(
    "--mix-seed",
    type=int,
    default=None,
    help="Give unscripted numbers a seeded mix of behaviours (busy, machine, ...).",
)
@click.option(
    "--list-lag",
    type=click.FloatRange(min=0),
    default=0.0,
    show_default=True,
    help="Seconds before a new call shows in GET Calls.json (Twilio's list lags).",
)
@click.option(
    "--callbacks",
    type=click.Choice(SERVED_MODES),
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
    sms_url: str | None,
    messaging_service: str | None,
    mix_seed: int | None,
    list_lag: float,
    callbacks: str,
    callback_seed: int,
) -> None:
    """Run the local Twilio-compatible carrier (serves until interrupted)."""
    if ctx.invoked_subcommand is not None:
        return
    settings = _settings()
    configure_logging(settings.log_level)
    check_port_free(host, port, "simulator")
    if messaging_service and not well_formed_service_sid(messaging_service):
        raise click.BadParameter("MG followed by 32 hex digits", param_hint="--messaging-service")
    carrier = carrier_from_settings(
        settings,
        virtual=virtual,
        calls_per_second=cps,
        voice_url=voice_url,
        list_lag_seconds=list_lag,
        sms_url=sms_url,
        messaging_service_sid=messaging_service,
    )
    if mix_seed is not None:
        carrier.mix = CalleeMix(seed=mix_seed)
    carrier.callback_delivery = CallbackDelivery(mode=callbacks, seed=callback_seed)
    running = start(carrier, host, port)
    message = (
        f"simulator on {running.base_url} ({'virtual' if virtual else 'real'} time); "
        f"inbound calls go to {carrier.voice_url}, texts to {carrier.sms_url};"
        f" callbacks {callbacks}; Ctrl-C stops it"
    )
    if running.base_url.rstrip("/") != settings.twilio_api_base_url.rstrip("/"):
        # The app and `hotline call` look for the carrier at TWILIO_API_BASE_URL.
        message += (
            f"\nthe app and `hotline call` look for the carrier at "
            f"{settings.twilio_api_base_url}: run them with TWILIO_API_BASE_URL={running.base_url}"
        )
    try:  # a Ctrl-C as soon as it has started stops it as cleanly as a later one
        click.echo(message)
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
    except SimulatorUnavailable as exc:
        if exc.status == 404:
            raise click.ClickException(
                f"no call {sid} in this simulator (`hotline simulator calls` lists its calls)"
            ) from None
        raise click.ClickException(str(exc)) from None
    except OSError as exc:
        raise click.ClickException(str(exc)) from None
    if as_json:
        click.echo(json.dumps(state, indent=2, ensure_ascii=False))
        return
    for line in render(state["transcript"]):
        click.echo(line)


@simulator.command("messages")
@click.option("--simulator-url", default=None, help="Default: TWILIO_API_BASE_URL.")
def messages(simulator_url: str | None) -> None:
    """List the simulator's text messages, oldest first."""
    client = _client(_settings(), simulator_url)
    try:
        listing = client.messages()
    except (SimulatorUnavailable, OSError) as exc:
        raise click.ClickException(str(exc)) from None
    for message in listing:
        click.echo(_message_line(message))


@click.command("sms")
@click.option("--from", "texter", required=True, help="The texting number (E.164).")
@click.option("--to", "line", default=None, help="The line's number (default: its first).")
@click.option("--simulator-url", default=None, help="Default: TWILIO_API_BASE_URL.")
@click.argument("body")
def sms(texter: str, line: str | None, simulator_url: str | None, body: str) -> None:
    """Text the hotline through the simulator, and print the replies."""
    client = _client(_settings(), simulator_url)
    try:
        answer = client.text(texter, body, line)
    except SimulatorUnavailable as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(_message_line(answer["message"]))
    failed = False
    for event in answer["events"]:
        if event["kind"] == "error":
            click.echo(f"  app error {event['code']}: {event['message']}", err=True)
            failed = True
    for reply in answer["replies"]:
        click.echo(_message_line(reply))
    if failed:
        raise click.exceptions.Exit(1)


def _message_line(message: dict[str, object]) -> str:
    error = f" ({message['error_code']})" if message.get("error_code") else ""
    return (
        f"{message['sid']}  {message['direction']:<14} {message['from']:>15} -> "
        f"{message['to']:<15} {message['status']}{error}: {message['body']}"
    )


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
    if state.get("error_code") == NO_ANSWER_FROM_APP:
        raise click.ClickException(
            "the line did not answer the carrier (11200): is `hotline serve` running where"
            " the simulator sends calls (its --voice-url, by default PUBLIC_BASE_URL), with"
            " the same TWILIO_AUTH_TOKEN and PUBLIC_BASE_URL (the app's own address)?"
        )
    if state.get("error_code"):
        raise click.exceptions.Exit(1)


# Twilio's "HTTP retrieval failure": the app's URL gave no answer (nothing listening, a timeout).
NO_ANSWER_FROM_APP = 11200


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
