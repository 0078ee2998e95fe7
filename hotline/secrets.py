"""Keyed hashes for the digits a cardholder keys to prove who they are."""

from __future__ import annotations

import hashlib
import hmac
import secrets


def new_salt() -> str:
    return secrets.token_hex(16)


def hash_verify_digits(secret_key: str, salt: str, digits: str) -> str:
    """HMAC-SHA256 keyed by the server secret: without the key, a leaked table is useless."""
    return hmac.new(secret_key.encode(), f"{salt}:{digits}".encode(), hashlib.sha256).hexdigest()


def verify_digits_match(secret_key: str, salt: str, digits: str, expected_hash: str) -> bool:
    return hmac.compare_digest(hash_verify_digits(secret_key, salt, digits), expected_hash)
