"""Adversarial: the simulator's own /sim API answers a malformed body with a 400 JSON error
(as its other refusals do), never a 500 with Flask's HTML page."""

from __future__ import annotations

import pytest
import requests

from hotline.settings import DEV_ACCOUNT_SID
from simulator.server import RunningSimulator
from tests.e2e.conftest import AUTH_TOKEN

A = "+14155550123"


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("PUT", "/sim/config"),
        ("PUT", "/sim/mix"),
        ("PUT", "/sim/queues/q"),
        ("PUT", f"/sim/numbers/{A}"),
        ("POST", "/sim/inbound"),
        ("POST", "/sim/sms"),
        ("POST", "/sim/clock"),
    ],
)
@pytest.mark.parametrize("body", ["1", "[1]", '"x"'])
def test_adv_a_sim_body_that_is_not_an_object_is_a_400(
    simulator: RunningSimulator, method: str, path: str, body: str
) -> None:
    answer = requests.request(
        method,
        simulator.base_url + path,
        data=body,
        headers={"Content-Type": "application/json"},
        auth=(DEV_ACCOUNT_SID, AUTH_TOKEN),
        timeout=10,
    )
    assert answer.status_code == 400, answer.text


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("PUT", "/sim/mix", {"seed": "x"}),
        ("PUT", "/sim/queues/q", {"agent_answers_after": "x"}),
        ("POST", "/sim/clock", {"advance": "x"}),
        ("POST", "/sim/clock", {"now": "x"}),
        ("POST", "/sim/inbound", {"from": A, "script": [1]}),
    ],
)
def test_adv_a_sim_field_of_the_wrong_kind_is_a_4xx(
    simulator: RunningSimulator, method: str, path: str, body: object
) -> None:
    answer = requests.request(
        method,
        simulator.base_url + path,
        json=body,
        auth=(DEV_ACCOUNT_SID, AUTH_TOKEN),
        timeout=10,
    )
    assert 400 <= answer.status_code < 500, answer.text
