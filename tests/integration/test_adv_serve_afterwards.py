"""Adversarial: under `hotline serve` (gunicorn's gthread worker, not the test server), what
a turn leaves for after its answer (response.call_on_close: resuming the recording after
<Pay>) still happens: gunicorn closes the response's iterable after writing it.
Checked adversarially; it holds (no finding), and is kept as a regression test."""

from __future__ import annotations

from pathlib import Path

from hotline.settings import from_env
from simulator.server import carrier_from_settings, start
from tests.conftest import TEST_SECRET_KEY, HotlineCli
from tests.integration.test_serve import (  # noqa: F401
    _free_port,
    newcomer_environ,
    serving,
    untouched_database,
)


def test_adv_under_gunicorn_the_recording_resumes_after_pay(
    untouched_database,  # noqa: F811
) -> None:
    database_url, folder = untouched_database
    port = _free_port()
    environ = {
        "PUBLIC_BASE_URL": f"http://127.0.0.1:{port}",
        "HOTLINE_SECRET_KEY": TEST_SECRET_KEY,
        "HOTLINE_ENV": "test",
        "HOTLINE_RECORD_CALLS": "1",
        **({"DATABASE_URL": database_url} if database_url else {}),
    }
    settings = from_env(environ)
    simulator = start(carrier_from_settings(settings, virtual=True))
    environ["TWILIO_API_BASE_URL"] = simulator.base_url
    try:
        with serving(port, newcomer_environ(**environ), folder) as log:
            url = database_url or f"sqlite:///{folder / 'hotline.db'}"
            cli = HotlineCli(url)
            assert cli("seed-demo", "--size", "12").exit_code == 0
            result = cli("call", "--keys", "94107#,2,1,1,1", "--simulator-url", simulator.base_url)
            calls = simulator.carrier.list_calls()
    finally:
        simulator.stop()
    assert result.exit_code == 0, result.output
    assert "was accepted" in result.stdout, result.stdout
    [call] = calls
    statuses = [e.detail["status"] for e in call.transcript if e.kind == "recording"]
    assert statuses[:3] == ["in-progress", "paused", "in-progress"], (
        statuses,
        Path(log).read_text(),
    )
