"""Where each key of a TOML text is written: `tomllib` gives values, not positions. Pure.

One pass over the lines, tracking the current table header; a key inside a multi-line
array or an inline table is given the line of the key that opens it.
"""

from __future__ import annotations

import re


class KeyLines:
    """Where each dotted key (and each table header) is written in a TOML text."""

    _HEADER = re.compile(r"^\s*\[\[?\s*([^\]]+?)\s*\]\]?\s*(?:#.*)?$")
    _KEY = re.compile(
        r"""^\s*((?:[A-Za-z0-9_-]+|"[^"]*"|'[^']*')(?:\s*\.\s*(?:[A-Za-z0-9_-]+|"[^"]*"|'[^']*'))*)\s*="""
    )

    def __init__(self, text: str) -> None:
        self.lines: dict[str, int] = {}
        table: list[str] = []
        depth = 0  # inside a multi-line array or inline table: its lines hold no keys
        for number, line in enumerate(text.splitlines(), start=1):
            if depth == 0:
                header = self._HEADER.match(line)
                if header:
                    table = _split_key(header[1])
                    self.lines.setdefault(".".join(table), number)
                    continue
                key = self._KEY.match(line)
                if key:
                    self.lines.setdefault(".".join([*table, *_split_key(key[1])]), number)
            depth = max(0, depth + _bracket_balance(line))

    def of(self, key: str) -> int:
        """The line of `key`, else of the nearest enclosing table written; 1 if none."""
        parts = key.split(".")
        while parts:
            found = self.lines.get(".".join(parts))
            if found is not None:
                return found
            parts.pop()
        return 1


def _split_key(text: str) -> list[str]:
    return [part.strip().strip("\"'") for part in re.findall(r'"[^"]*"|\'[^\']*\'|[^.]+', text)]


def _bracket_balance(line: str) -> int:
    """Opening minus closing brackets and braces outside strings and comments."""
    balance, quote = 0, ""
    for char in line:
        if quote:
            quote = "" if char == quote else quote
        elif char in "\"'":
            quote = char
        elif char == "#":
            break
        elif char in "[{":
            balance += 1
        elif char in "]}":
            balance -= 1
    return balance
