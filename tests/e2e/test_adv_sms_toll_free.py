"""Adversarial: the line's number is toll-free (+1 800), where STOP is handled by the
carrier network, not by Twilio's long-code filter.

Twilio's support article "Opt-out keyword handling (SMS STOP Filtering) for Toll-Free SMS"
(https://support.twilio.com/hc/en-us/articles/360058144374): a STOP to a toll-free number
gets the network's reply, 'NETWORK MSG: You replied with the word "stop" which blocks all
texts sent from this number. Text back "unstop" to receive messages again.', which cannot be
changed. The simulator answers with the long-code reply whatever the number, so a test of
the line's SMS passes here with a reply the cardholder would never see.
"""

from __future__ import annotations

import pytest

from tests.e2e.test_sms import HOTLINE_NUMBER, line, receiver, text  # noqa: F401


@pytest.mark.xfail(
    strict=True,
    reason="the simulator gives Twilio's long-code STOP reply on a toll-free number too",
)
def test_adv_a_stop_to_the_toll_free_line_gets_the_networks_reply(line):  # noqa: F811
    assert HOTLINE_NUMBER.startswith("+1800")
    answer = text(line, "+14155550123", "STOP")
    assert answer["replies"][0]["body"].startswith("NETWORK MSG:"), answer["replies"]
