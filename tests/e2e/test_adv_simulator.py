"""Adversarial: the simulator's REST and /sim API under malformed input, through the SDK.

Twilio answers a malformed list query with a 4xx JSON error (the SDK raises
TwilioRestException); a 500 from the simulator would teach the code under test nothing
about Twilio. The Messages list keeps its To/From filters on every page it links to, as
Twilio's next_page_uri does (and as the simulator's Calls list already does).
"""

from __future__ import annotations

import pytest
from twilio.base.exceptions import TwilioException, TwilioRestException
from twilio.rest import Client

from hotline.settings import DEV_ACCOUNT_SID
from simulator.server import RunningSimulator
from telephony.twilio_gateway import make_client
from tests.e2e.conftest import AUTH_TOKEN, HOTLINE_NUMBER

A, B = "+14155550123", "+14155550124"


@pytest.fixture
def client(simulator: RunningSimulator) -> Client:
    return make_client(DEV_ACCOUNT_SID, AUTH_TOKEN, simulator.base_url)


def test_adv_the_messages_list_keeps_its_filter_on_later_pages(client: Client) -> None:
    for _ in range(3):
        client.messages.create(to=A, from_=HOTLINE_NUMBER, body="to A")
        client.messages.create(to=B, from_=HOTLINE_NUMBER, body="to B")
    listed = client.messages.list(to=A, page_size=2)
    assert [m.to for m in listed] == [A] * 3


@pytest.mark.parametrize("size", ["abc", "\u00b2"])
def test_adv_a_malformed_page_size_is_a_400_not_a_500(client: Client, size: str) -> None:
    for page in (client.messages.page, client.calls.page):
        # The SDK raises TwilioException("Unable to fetch page", response) for a list page.
        with pytest.raises(TwilioException) as raised:
            page(page_size=size)
        response = raised.value.args[1]
        assert response.status_code == 400, (page, response.status_code, response.text)


def test_adv_a_text_from_the_line_to_itself_is_refused_with_21266(client: Client) -> None:
    # https://www.twilio.com/docs/api/errors/21266
    with pytest.raises(TwilioRestException) as raised:
        client.messages.create(to=HOTLINE_NUMBER, from_=HOTLINE_NUMBER, body="hi")
    assert (raised.value.status, raised.value.code) == (400, 21266)


def test_adv_inline_twiml_over_4000_characters_is_refused_with_32018(client: Client) -> None:
    # https://www.twilio.com/docs/api/errors/32018
    say = "<Response><Say>" + "a" * 4000 + "</Say></Response>"
    with pytest.raises(TwilioRestException) as raised:
        client.calls.create(to=A, from_=HOTLINE_NUMBER, twiml=say)
    assert (raised.value.status, raised.value.code) == (400, 32018)
    fits = "<Response><Say>" + "a" * (4000 - 32) + "</Say></Response>"
    assert len(fits) == 4000
    assert client.calls.create(to=A, from_=HOTLINE_NUMBER, twiml=fits).sid.startswith("CA")
