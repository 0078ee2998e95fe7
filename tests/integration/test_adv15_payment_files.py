"""adv15: payments files as they arrive from a confused operator's spreadsheet."""

from __future__ import annotations

import pytest

from tests.integration.test_import import ALICE
from tests.integration.test_payment_import import HEADER, accounts  # noqa: F401

ROW = f"{ALICE['account_number']},50.00,USD,2026-11-22,BANK-0001"


@pytest.mark.parametrize(
    "content",
    [
        ("\ufeff" + HEADER + "\n" + ROW + "\n").encode("utf-8"),  # Excel's "CSV UTF-8"
        (HEADER + "\n" + ROW + "\n").encode("utf-16"),  # Excel's "Unicode text"
        (HEADER + "\n" + ROW.replace("BANK", "BA\x00NK") + "\n").encode(),  # a NUL byte
        (HEADER + "\n" + ROW + ',"' + "x" * 200_000 + '"\n').encode(),  # a huge field
        (HEADER + "\n" + '"' + "x" * 200_000 + "\n").encode(),  # a quote never closed
    ],
    ids=["bom", "utf16", "nul", "huge-field", "open-quote"],
)
def test_an_odd_file_is_posted_or_refused_in_words_never_a_traceback(
    hotline,
    tmp_path,
    accounts,  # noqa: F811
    content,
):
    path = tmp_path / "p.csv"
    path.write_bytes(content)
    try:
        result = hotline("import", "payments", str(path))
    except Exception as crash:
        raise AssertionError(f"traceback: {type(crash).__name__}: {crash}"[:300]) from None
    assert result.exit_code in (0, 1, 2), result.output
    assert len(result.output.strip().splitlines()) <= 4, result.output[:500]
