"""HTTP between the simulator, the SDK and the app without a socket: a `requests` adapter
that hands each request to a WSGI app on the calling thread, and a session that does so
without preparing a request at all.

A campaign simulation makes a dozen requests a call (the REST create, the TwiML fetches,
the status callbacks), one call at a time; over loopback each costs a connection, a
server thread and HTTP parsing on both sides, most of a simulated call's time. Mounted on
a `requests.Session` for one base URL, this adapter gives the app the same request (path,
query, headers with the signature, form body) as a WSGI environ, and the caller the same
answer, so signatures, routing, TwiML and every webhook's work are exactly as over HTTP.
Connection overrides' timeouts (ct, rt) have nothing to time out here and are not applied.

The SDK's requests go through its own session's `send` (the adapter). The carrier's own
webhook requests, five a call, go through `InProcessSession.request`: the same environ,
built straight from the method, URL, headers and form body, where preparing a
`requests.PreparedRequest` for each (merging settings, cookies and hooks, parsing the URL
again) cost a tenth of a simulated call.
"""

from __future__ import annotations

import io
import sys
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote_to_bytes, urlencode, urljoin, urlsplit

import requests
from requests.adapters import BaseAdapter
from requests.structures import CaseInsensitiveDict
from requests.utils import get_encoding_from_headers, requote_uri

if TYPE_CHECKING:
    from _typeshed.wsgi import WSGIApplication

# Followed as requests follows them (Session.rebuild_method): a 302 or 303 becomes a GET, a
# 301 of a POST too, and only a 307 or 308 sends the body again.
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_MAX_REDIRECTS = 30


def environ_for(
    method: str, url: str, headers: Iterable[tuple[str, str]], body: bytes
) -> dict[str, Any]:
    """The WSGI environ a server would hand the app for this request."""
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    environ: dict[str, Any] = {
        "REQUEST_METHOD": method,
        "SCRIPT_NAME": "",
        "PATH_INFO": unquote_to_bytes(parts.path or "/").decode("latin-1"),
        "QUERY_STRING": parts.query,
        "SERVER_NAME": parts.hostname or "localhost",
        "SERVER_PORT": str(port),
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "127.0.0.1",
        "HTTP_HOST": parts.netloc,
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": parts.scheme,
        "wsgi.input": io.BytesIO(body),
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": False,
        "wsgi.multiprocess": False,
        "wsgi.run_once": False,
    }
    if body or method not in ("GET", "HEAD"):
        environ["CONTENT_LENGTH"] = str(len(body))  # as requests sends it: not for a bare GET
    for name, value in headers:
        key = name.upper().replace("-", "_")
        if key == "CONTENT_LENGTH":
            continue  # the body's own length, above
        if key != "CONTENT_TYPE":
            key = "HTTP_" + key
        environ[key] = value
    return environ


def call_app(app: WSGIApplication, environ: dict[str, Any], url: str) -> requests.Response:
    """Run the app on `environ`; its answer as `requests` gives it. The app's work after
    the answer (Flask's call_on_close) runs when its body is closed, here, as a server
    runs it after writing the answer."""
    answer: list[Any] = []
    written: list[bytes] = []

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
        answer[:] = [status, headers]
        return written.append

    body = app(environ, start_response)
    try:
        content = b"".join([*written, *body])
    finally:
        close = getattr(body, "close", None)
        if close is not None:
            close()
    status, headers = answer
    response = requests.Response()
    code, _, reason = status.partition(" ")
    response.status_code = int(code)
    response.reason = reason
    joined: CaseInsensitiveDict[str] = CaseInsensitiveDict()
    for name, value in headers:  # a repeated header joined, as urllib3 gives it
        joined[name] = f"{joined[name]}, {value}" if name in joined else value
    response.headers = joined
    response.encoding = get_encoding_from_headers(response.headers)
    response._content = content
    response.url = url
    return response


class WsgiAdapter(BaseAdapter):
    """Answer a Session's requests to one base URL by calling a WSGI app in-process."""

    def __init__(self, app: WSGIApplication) -> None:
        super().__init__()
        self.app = app

    def send(
        self, request: requests.PreparedRequest, *args: Any, **kwargs: Any
    ) -> requests.Response:
        assert request.url is not None and request.method is not None
        raw = request.body or b""
        body = raw.encode("utf-8") if isinstance(raw, str) else bytes(raw)  # type: ignore[arg-type]
        headers = [
            (k, v if isinstance(v, str) else v.decode("latin-1"))
            for k, v in request.headers.items()
        ]
        environ = environ_for(request.method, request.url, headers, body)
        response = call_app(self.app, environ, request.url)
        response.request = request
        return response

    def close(self) -> None:
        return None


class InProcessSession(requests.Session):
    """A session whose requests to a URL mounted with `mount` go straight to its app: the
    same request, headers (the session's own under the caller's) and form body, without a
    PreparedRequest; redirects followed as `requests` follows them. Other URLs, and
    anything but a plain form or raw body, go the usual way."""

    def request(  # type: ignore[override]
        self,
        method: str,
        url: str,
        params: Any = None,
        data: Any = None,
        headers: Mapping[str, str] | None = None,
        *,
        allow_redirects: bool = True,
        **kwargs: Any,
    ) -> requests.Response:
        adapter = self.get_adapter(url)
        if kwargs.get("json") is None:
            kwargs.pop("json", None)  # Session.post passes json=None
        plain = not (params or self.params or self.auth or set(kwargs) - {"timeout"})
        if not isinstance(adapter, WsgiAdapter) or not plain:
            return super().request(
                method,
                url,
                params=params,
                data=data,
                headers=headers,
                allow_redirects=allow_redirects,
                **kwargs,
            )
        merged: CaseInsensitiveDict[str] = CaseInsensitiveDict(self.headers)
        merged.update(headers or {})
        url = requote_uri(url)  # as requests sends it (a space, | or é quoted)
        if isinstance(data, bytes):
            body = data
        elif isinstance(data, str):
            body = data.encode("utf-8")
        else:
            body = _form(data)
            if body:
                merged.setdefault("Content-Type", "application/x-www-form-urlencoded")
        for _ in range(_MAX_REDIRECTS):
            response = call_app(adapter.app, environ_for(method, url, merged.items(), body), url)
            location = response.headers.get("Location")
            if not allow_redirects or response.status_code not in _REDIRECTS or not location:
                return response
            url = urljoin(url, location)
            code = response.status_code
            if (code in (302, 303) and method != "HEAD") or (code == 301 and method == "POST"):
                method = "GET"
            if code not in (307, 308):  # only these two send the body again
                body = b""
                merged.pop("Content-Type", None)
            adapter = self.get_adapter(url)
            if not isinstance(adapter, WsgiAdapter):
                return super().request(method, url, data=body or None, headers=merged, **kwargs)
        raise requests.TooManyRedirects(f"more than {_MAX_REDIRECTS} redirects", response=response)


def _form(data: Any) -> bytes:
    """A form body as requests encodes one: pairs or a mapping, a list value repeating its
    key, None values left out."""
    if not data:
        return b""
    pairs = []
    for key, values in data.items() if isinstance(data, Mapping) else data:
        if isinstance(values, str | bytes) or not hasattr(values, "__iter__"):
            values = [values]
        pairs += [(key, value) for value in values if value is not None]
    return urlencode(pairs).encode("utf-8")


def mount(session: requests.Session, base_url: str, app: WSGIApplication) -> None:
    """Send `session`'s requests under `base_url` to `app`, in-process. The session stops
    reading proxies and .netrc from the environment for each request (nothing it sends
    leaves the process, and those look-ups were a tenth of a simulated call's time)."""
    session.trust_env = False
    session.mount(base_url.rstrip("/") + "/", WsgiAdapter(app))
