"""Logging: one line per event, personal data masked before anything is written.

Masking happens in the formatter, on the final text, so it also covers exception messages
and values interpolated from request parameters that a handler did not think to hide.
"""

from __future__ import annotations

import logging
import re
import sys

from hotline.phones import mask_phone

_E164 = re.compile(r"\+\d{8,15}\b")
# 12 to 19 digits, optionally grouped by spaces or dashes: the shape of a card number (PAN).
_LONG_DIGITS = re.compile(r"(?<![\w+])\d(?:[ -]?\d){11,18}(?!\w)")
_EMAIL = re.compile(r"\b[\w.+-]+@[\w-]+\.[\w.-]+\b")
# key=value pairs whose value is a secret or what a cardholder keyed to prove identity.
_SECRET_FIELDS = re.compile(
    r"(?i)\b(digits|verify_digits|securitycode|security_code|cvv|cvc|password|token|secret)"
    r"(\s*[=:]\s*)('[^']*'|\"[^\"]*\"|[^\s,;&)]+)"
)


def mask_pii(text: str) -> str:
    """Mask phone numbers, card-number-like digit runs, emails and secret values."""
    text = _SECRET_FIELDS.sub(lambda m: f"{m.group(1)}{m.group(2)}***", text)
    text = _LONG_DIGITS.sub(lambda m: "*" * 4 + re.sub(r"\D", "", m.group(0))[-4:], text)
    text = _E164.sub(lambda m: mask_phone(m.group(0)), text)
    return _EMAIL.sub("***@***", text)


class OneLineMaskingFormatter(logging.Formatter):
    """Formats a record as a single masked line (tracebacks folded with literal \\n)."""

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        return mask_pii(line).replace("\r", "").replace("\n", "\\n")


FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"


def configure(level: str = "INFO") -> None:
    """Route the root logger to stderr through the masking formatter (idempotent)."""
    root = logging.getLogger()
    if not any(getattr(handler, "_hotline", False) for handler in root.handlers):
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(OneLineMaskingFormatter(FORMAT))
        handler._hotline = True  # type: ignore[attr-defined]
        root.addHandler(handler)
    root.setLevel(level)
    # Alembic narrates every migration context at INFO; hotline.db logs the upgrade itself.
    logging.getLogger("alembic").setLevel(max(logging.WARNING, root.level))
    # The twilio SDK logs every REST request, headers included, at INFO: kept for DEBUG.
    logging.getLogger("twilio.http_client").setLevel(
        logging.WARNING if root.level > logging.DEBUG else logging.DEBUG
    )
