"""The in-process HTTP of a rehearsal: the app gets the request a server would give it,
whether it went through `requests` and the adapter or straight from the carrier's session."""

from __future__ import annotations

import json

import pytest
import requests
from werkzeug.wrappers import Request, Response

from simulator.wsgi_transport import InProcessSession, mount

BASE = "http://127.0.0.1:8123"
closed: list[str] = []


@Request.application
def app(request: Request) -> Response:
    if request.path == "/moved":
        return Response("", status=int(request.args["code"]), headers={"Location": "/echo?r=1"})
    if request.path == "/later":
        response = Response("done")
        response.call_on_close(lambda: closed.append(request.path))
        return response
    seen = {
        "method": request.method,
        "path": request.path,
        "query": request.query_string.decode(),
        "url": request.url,
        "form": sorted(request.form.items(multi=True)),  # pairs: lists once in JSON
        "type": request.content_type,
        "length": request.content_length,
        "signature": request.headers.get("X-Twilio-Signature"),
        "agent": request.headers.get("User-Agent"),
        "host": request.host,
    }
    return Response(json.dumps(seen), content_type="application/json; charset=utf-8")


def sessions() -> tuple[requests.Session, InProcessSession]:
    usual, direct = requests.Session(), InProcessSession()
    mount(usual, BASE, app)
    mount(direct, BASE, app)
    return usual, direct


FORM = [("CallSid", "CA1"), ("Digits", "1#"), ("SpeechResult", "no, 不要 & stop"), ("Empty", "")]
HEADERS = {"X-Twilio-Signature": "c2ln", "User-Agent": "TwilioProxy/1.1", "Accept": "*/*"}


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_both_ways_give_the_app_the_same_request_and_the_caller_the_same_answer(method):
    usual, direct = sessions()
    url = f"{BASE}/echo/step%20two?attempt=7&x=%C3%A9"
    data = FORM if method == "POST" else None
    one = usual.request(method, url, data=data, headers=HEADERS, timeout=(5, 15))
    two = direct.request(method, url, data=data, headers=HEADERS, timeout=(5, 15))
    assert (one.status_code, one.headers["Content-Type"]) == (
        200,
        "application/json; charset=utf-8",
    )
    assert (two.status_code, dict(two.headers)) == (one.status_code, dict(one.headers))
    assert two.json() == one.json()
    seen = two.json()
    assert seen["path"] == "/echo/step two" and seen["query"] == "attempt=7&x=%C3%A9"
    assert seen["host"] == "127.0.0.1:8123" and seen["signature"] == "c2ln"
    if method == "POST":
        assert seen["form"] == [list(pair) for pair in sorted(FORM)]
        assert seen["type"] == "application/x-www-form-urlencoded"


@pytest.mark.parametrize(
    ("code", "method"), [(301, "GET"), (302, "GET"), (303, "GET"), (307, "POST"), (308, "POST")]
)
def test_redirects_are_followed_as_requests_follows_them(code, method):
    usual, direct = sessions()
    url = f"{BASE}/moved?code={code}"
    one = usual.post(url, data=FORM, headers=HEADERS)
    two = direct.post(url, data=FORM, headers=HEADERS)
    assert two.json() == one.json()
    assert two.json()["method"] == method and two.json()["query"] == "r=1"
    assert two.json()["form"] == ([list(p) for p in sorted(FORM)] if method == "POST" else [])
    assert direct.post(url, data=FORM, allow_redirects=False).status_code == code


def test_the_apps_work_after_the_answer_runs_before_the_request_returns():
    _, direct = sessions()
    closed.clear()
    assert direct.post(f"{BASE}/later", data=FORM).text == "done"
    assert closed == ["/later"]


def test_a_url_not_mounted_goes_the_usual_way():
    class Canned(requests.adapters.BaseAdapter):
        def send(self, request, *args, **kwargs):
            response = requests.Response()
            response.status_code, response._content = 204, b""
            response.request, response.url = request, request.url
            return response

        def close(self):
            return None

    _, direct = sessions()
    direct.mount("http://elsewhere/", Canned())
    assert direct.post("http://elsewhere/x", data=FORM).status_code == 204


def test_a_callers_header_replaces_the_sessions_whatever_its_case():
    usual, direct = sessions()
    headers = {
        "content-type": "application/x-www-form-urlencoded; charset=utf-8",
        "user-agent": "TwilioProxy/1.1",
    }
    one = usual.post(f"{BASE}/echo", data=FORM, headers=headers)
    two = direct.post(f"{BASE}/echo", data=FORM, headers=headers)
    assert two.json() == one.json()
    assert two.json()["type"] == "application/x-www-form-urlencoded; charset=utf-8"
    assert two.json()["agent"] == "TwilioProxy/1.1"
    raw = direct.post(f"{BASE}/echo", data=b"STOP", headers={"content-type": "text/plain"})
    assert (raw.json()["type"], raw.json()["length"]) == ("text/plain", 4)
