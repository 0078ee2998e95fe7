"""Benchmark: a campaign of outbound calls through the SDK and the simulator, virtual time.

    python bench/simulator_campaign.py [--calls 500] [--seed 1] [--callbacks chaotic]

Places CALLS outbound calls with the real `twilio` SDK (through Hotline's adapter) to
numbers drawn from the seeded callee mix, against a small signed-webhook voice app, on a
virtual clock at 1 call per second. Prints real seconds, calls/s, the simulated time the
campaign covers, the ratio of simulated to real time, and the outcome mix.
"""

from __future__ import annotations

import argparse
import collections
import logging
import resource
import time

from flask import Flask, Response, request
from twilio.request_validator import RequestValidator
from twilio.twiml.voice_response import VoiceResponse

from hotline.settings import DEV_ACCOUNT_SID
from simulator.callees import CalleeMix
from simulator.carrier import Carrier
from simulator.carrier.delivery import SERVED_MODES, CallbackDelivery
from simulator.clock import VirtualClock
from simulator.server import BackgroundServer, start
from telephony.gateway import CallRequest
from telephony.twilio_gateway import TwilioGateway

TOKEN = "bench-auth-token-0123456789"
CALLER_ID = "+18005550100"


received = [0]  # status callbacks the app got, duplicates included


def voice_app(public: list[str]) -> Flask:
    app = Flask("bench")
    validator = RequestValidator(TOKEN)

    @app.post("/answer")
    def answer() -> Response:
        url = public[0] + request.path
        if not validator.validate(url, request.form, request.headers.get("X-Twilio-Signature")):
            return Response(status=403)
        response = VoiceResponse()
        if request.form.get("AnsweredBy", "human") != "human":
            response.say("This is Example Bank. Please call us back at 800 555 0100.")
        else:
            gather = response.gather(num_digits=1, action="/answer")
            gather.say("This is a reminder from Example Bank. Press 1 to talk to us.")
        return Response(str(response), mimetype="text/xml")

    @app.post("/status")
    def status() -> Response:
        received[0] += 1
        return Response(status=204)

    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=500)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--callbacks", choices=SERVED_MODES, default="in-order")
    parser.add_argument("--callback-seed", type=int, default=0)
    args = parser.parse_args()
    # The figures, not thousands of request lines from the two servers' threads.
    logging.getLogger("werkzeug").setLevel(logging.WARNING)

    public = [""]
    served = BackgroundServer(voice_app(public), name="bench-app")
    public[0] = served.base_url
    clock = VirtualClock()
    carrier = Carrier(
        account_sid=DEV_ACCOUNT_SID,
        auth_token=TOKEN,
        numbers=[CALLER_ID],
        voice_url=public[0] + "/answer",
        clock=clock,
        mix=CalleeMix(seed=args.seed),
        max_workers=16,
        callback_delivery=CallbackDelivery(mode=args.callbacks, seed=args.callback_seed),
    )
    simulator = start(carrier)
    gateway = TwilioGateway.from_settings(DEV_ACCOUNT_SID, TOKEN, simulator.base_url)
    started_at = clock.now()
    started = time.perf_counter()
    for n in range(args.calls):
        gateway.place_call(
            CallRequest(
                to=f"+1415{2000000 + n:07d}",
                from_=CALLER_ID,
                url=public[0] + "/answer",
                status_callback=public[0] + "/status",
                machine_detection="DetectMessageEnd",
            )
        )
    carrier.wait_all(timeout=600)
    elapsed = time.perf_counter() - started
    calls = carrier.list_calls()
    simulated = max(c.end_time or c.created_at for c in calls) - started_at
    talk = sum(c.duration or 0 for c in calls)
    outcomes = collections.Counter(
        c.status if c.status != "completed" else f"completed/{c.answered_by}" for c in calls
    )
    requests_made = sum(c.requests_made for c in calls)
    print(
        f"{args.calls} calls in {elapsed:.2f} s real: {args.calls / elapsed:.0f} calls/s, "
        f"{requests_made / elapsed:.0f} webhook requests/s"
    )
    print(
        f"simulated span {simulated.total_seconds():.0f} s (1 call/s CPS), "
        f"{talk} s of answered call time; simulated/real = "
        f"{simulated.total_seconds() / elapsed:.0f}x"
    )
    print(f"status callbacks received: {received[0]} ({args.callbacks})")
    print("outcomes: " + ", ".join(f"{k} {v}" for k, v in sorted(outcomes.items())))
    print(f"peak memory: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")
    simulator.stop()
    served.stop()


if __name__ == "__main__":
    main()
