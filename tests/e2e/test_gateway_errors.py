"""The port's promise: every refusal reaches the lines as GatewayError, through the real SDK.

The simulator answers a path it does not serve as Twilio answers an unknown resource (404,
JSON, code 20404), so the SDK raises its own TwilioRestException; and whatever else the
SDK or the network raises (no carrier listening, a body that is not JSON) the adapter
turns into GatewayError too.
"""

from __future__ import annotations

import socket
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
from twilio.base.exceptions import TwilioException, TwilioRestException

from hotline.settings import DEV_ACCOUNT_SID
from telephony.gateway import GatewayError
from telephony.twilio_gateway import TwilioGateway
from tests.e2e.conftest import AUTH_TOKEN


def test_a_path_the_simulator_does_not_serve_answers_twilios_json_404(gateway):
    account = gateway.client.api.v2010.accounts(DEV_ACCOUNT_SID)
    with pytest.raises(TwilioRestException) as refused:
        account.applications("AP" + "0" * 32).fetch()
    assert (refused.value.status, refused.value.code) == (404, 20404)
    # A list the simulator does not serve: the SDK's page error carries Twilio's JSON body.
    with pytest.raises(TwilioException, match='"code":20404'):
        account.applications.list()


def test_an_unknown_call_is_a_gateway_error_with_twilios_code(gateway):
    with pytest.raises(GatewayError) as refused:
        gateway.fetch("CA" + "0" * 32)
    assert (refused.value.status, refused.value.code) == (404, 20404)


def test_no_carrier_listening_is_a_gateway_error():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # nothing listens here once the socket closes
    gateway = TwilioGateway.from_settings(DEV_ACCOUNT_SID, AUTH_TOKEN, f"http://127.0.0.1:{port}")
    with pytest.raises(GatewayError) as refused:
        gateway.fetch("CA" + "0" * 32)
    assert refused.value.code is None


class _HtmlPage(BaseHTTPRequestHandler):
    """A proxy's error page in front of the carrier: HTML, not Twilio's JSON."""

    def do_GET(self) -> None:
        body = b"<html><body><h1>502 Bad Gateway</h1></body></html>"
        self.send_response(502)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_: object) -> None:
        pass


def test_an_html_error_page_is_a_gateway_error():
    server = HTTPServer(("127.0.0.1", 0), _HtmlPage)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        base = f"http://127.0.0.1:{server.server_address[1]}"
        gateway = TwilioGateway.from_settings(DEV_ACCOUNT_SID, AUTH_TOKEN, base)
        with pytest.raises(GatewayError):
            gateway.fetch("CA" + "0" * 32)
    finally:
        server.shutdown()
        server.server_close()
