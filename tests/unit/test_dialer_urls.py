"""The interface the dialer's tick places calls with: dialer.urls."""

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
