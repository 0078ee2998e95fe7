"""What the dialer's other parts build on: how a call is placed (dialer.urls), how its
disposition ranks and counts for the contact policy (dialer.outcomes)."""

from urllib.parse import parse_qs, urlsplit

from dialer.urls import call_request, call_urls


def test_a_call_request_names_its_attempt_in_both_urls_and_asks_for_message_end_detection():
    request = call_request("https://hotline.example/", 42, to="+14155550100", from_="+18005550100")
    answer, status = urlsplit(request.url), urlsplit(request.status_callback or "")
    assert (answer.scheme, answer.netloc, answer.path) == (
        "https",
        "hotline.example",
        "/dialer/answer",
    )
    assert status.path == "/dialer/status"
    assert parse_qs(answer.query) == parse_qs(status.query) == {"attempt": ["42"]}
    assert tuple(request.status_events) == ("initiated", "ringing", "answered", "completed")
    assert request.machine_detection == "DetectMessageEnd"
    assert request.machine_detection_timeout == 30 and request.async_amd_callback is None
    assert (request.to, request.from_, request.timeout_seconds) == (
        "+14155550100",
        "+18005550100",
        30,
    )


def test_the_urls_alone_are_the_same_as_the_requests():
    urls = call_urls("http://127.0.0.1:8000", 7)
    assert urls.url == "http://127.0.0.1:8000/dialer/answer?attempt=7"
    assert urls.status_callback == "http://127.0.0.1:8000/dialer/status?attempt=7"


def test_every_disposition_has_a_rank_and_a_way_the_policy_counts_it():
    from dialer.history import CONVERSATIONS, POLICY_OUTCOME
    from hotline.enums import DISPOSITION_RANK, Disposition
    from hotline.profiles import AttemptOutcome

    assert set(DISPOSITION_RANK) == set(POLICY_OUTCOME) == set(Disposition)
    assert {POLICY_OUTCOME[d] for d in CONVERSATIONS} == {AttemptOutcome.CONNECTED}
    # What a call achieved outranks how it went.
    assert DISPOSITION_RANK[Disposition.PAID] > DISPOSITION_RANK[Disposition.PROMISE]
    assert DISPOSITION_RANK[Disposition.PROMISE] > DISPOSITION_RANK[Disposition.RIGHT_PARTY]
