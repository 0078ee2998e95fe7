"""Logging: one line per event, personal data masked before anything is written.

Masking happens in the formatter, on the final text, so it also covers exception messages
and values interpolated from request parameters that a handler did not think to hide.
"""

from __future__ import annotations

import logging
import re
import sys

from hotline.phones import mask_phone_numbers
from hotline.redact import escape_controls, mask_card_numbers

# 12 to 19 digits standing alone, optionally grouped by spaces or dashes: long numbers that
# are not card numbers by Luhn (a mistyped card, an account number) are not logged either.
_LONG_DIGITS = re.compile(r"(?<![\w+*])\d(?:[ -]?\d){11,18}(?![\w*])")
_EMAIL = re.compile(r"\b[\w.+-]+@[\w-]+\.[\w.-]+\b")
# key=value pairs whose value is a secret or what a cardholder keyed to prove identity.
_SECRET_FIELDS = re.compile(
    r"(?i)\b(digits|verify_digits|securitycode|security_code|cvv|cvc|password|token|secret)"
    r"(\s*[=:]\s*)('[^']*'|\"[^\"]*\"|[^\s,;&)]+)"
)


def mask_pii(text: str) -> str:
    """Mask secret values, card numbers (by Luhn, wherever they are), other long digit
    runs, phone numbers in any format, and emails."""
    text = _SECRET_FIELDS.sub(lambda m: f"{m.group(1)}{m.group(2)}***", text)
    text = mask_card_numbers(text)
    text = _LONG_DIGITS.sub(lambda m: "*" * 4 + re.sub(r"\D", "", m.group(0))[-4:], text)
    text = mask_phone_numbers(text)
    return _EMAIL.sub("***@***", text)


class OneLineMaskingFormatter(logging.Formatter):
    """Formats a record as a single masked line: the message, the exception and its
    traceback (where SQLAlchemy puts a statement's parameters) and any stack are masked
    together; then every control, bidi or line-separator character is escaped (a newline
    reads \\n), so a value cannot end the line, recolour a terminal or reorder the text."""

    def format(self, record: logging.LogRecord) -> str:
        return escape_controls(mask_pii(super().format(record)))


FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"


def configure(level: str = "INFO") -> None:
    """Route the root logger to stderr through the masking formatter (idempotent)."""
    root = logging.getLogger()
    if not any(getattr(handler, "_hotline", False) for handler in root.handlers):
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(OneLineMaskingFormatter(FORMAT))
        # A mark on our own handler, so a second configure() finds it (read with getattr).
        handler._hotline = True  # type: ignore[attr-defined]
        root.addHandler(handler)
    root.setLevel(level)
    # Alembic narrates every migration context at INFO; hotline.db logs the upgrade itself.
    logging.getLogger("alembic").setLevel(max(logging.WARNING, root.level))
    # The twilio SDK logs every REST request, headers included, at INFO: kept for DEBUG.
    logging.getLogger("twilio.http_client").setLevel(
        logging.WARNING if root.level > logging.DEBUG else logging.DEBUG
    )
