"""HTTP between the simulator, the SDK and the app without a socket: a `requests` adapter
that hands each request to a WSGI app on the calling thread.

A campaign simulation makes a dozen requests a call (the REST create, the TwiML fetches,
the status callbacks), one call at a time; over loopback each costs a connection, a
server thread and HTTP parsing on both sides, most of a simulated call's time. Mounted on
a `requests.Session` for one base URL, this adapter gives the app the same request (path,
query, headers with the signature, form body) as a WSGI environ, and the caller the same
answer, so signatures, routing, TwiML and every webhook's work are exactly as over HTTP.
Connection overrides' timeouts (ct, rt) have nothing to time out here and are not applied.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import requests
from requests.adapters import BaseAdapter
from requests.structures import CaseInsensitiveDict
from requests.utils import get_encoding_from_headers
from werkzeug.test import EnvironBuilder, run_wsgi_app

if TYPE_CHECKING:
    from _typeshed.wsgi import WSGIApplication


class WsgiAdapter(BaseAdapter):
    """Answer a Session's requests to one base URL by calling a WSGI app in-process."""

    def __init__(self, app: WSGIApplication) -> None:
        super().__init__()
        self.app = app

    def send(
        self, request: requests.PreparedRequest, *args: Any, **kwargs: Any
    ) -> requests.Response:
        assert request.url is not None and request.method is not None
        url = urlsplit(request.url)
        raw = request.body or b""
        body = raw.encode("utf-8") if isinstance(raw, str) else bytes(raw)  # type: ignore[arg-type]
        headers = [
            (k, v if isinstance(v, str) else v.decode("latin-1"))
            for k, v in request.headers.items()
            if k.lower() != "content-length"
        ]
        environ = EnvironBuilder(
            path=url.path,
            query_string=url.query,
            method=request.method,
            base_url=f"{url.scheme}://{url.netloc}",
            headers=headers,
            data=body,
        ).get_environ()
        app_iter, status, response_headers = run_wsgi_app(self.app, environ)
        try:
            content = b"".join(app_iter)
        finally:
            close = getattr(app_iter, "close", None)
            if close is not None:
                close()  # the app's work after the answer (call_on_close) runs here
        response = requests.Response()
        code, _, reason = status.partition(" ")
        response.status_code = int(code)
        response.reason = reason
        response.headers = CaseInsensitiveDict(dict(response_headers.items()))
        response.encoding = get_encoding_from_headers(response.headers)
        response._content = content
        response.url = request.url
        response.request = request
        return response

    def close(self) -> None:
        return None


def mount(session: requests.Session, base_url: str, app: WSGIApplication) -> None:
    """Send `session`'s requests under `base_url` to `app`, in-process. The session stops
    reading proxies and .netrc from the environment for each request (nothing it sends
    leaves the process, and those look-ups were a tenth of a simulated call's time)."""
    session.trust_env = False
    session.mount(base_url.rstrip("/") + "/", WsgiAdapter(app))
