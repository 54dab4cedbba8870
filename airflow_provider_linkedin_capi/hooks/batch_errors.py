"""Which elements of a rejected batch LinkedIn complained about.

One bad element fails a whole BATCH_CREATE (docs/linkedin-contract.md §2.3, §7.6). LinkedIn names the culprits
in prose, in two shapes seen in the wild:

- 422: ``Index: 3, ERROR :: /user/userIds :: field is required ...`` lines; one index may have several
  ``ERROR ::`` lines, and lines without ``Index:`` continue the index before them;
- 400: ``Conversion's method should be CONVERSIONS_API, indices [0, 3] (0-indexed)``.

Anything else is not attributable, and the caller has to find the culprits by splitting the batch.
"""

from __future__ import annotations

import re

_INDEX_LINE = re.compile(r"^\s*Index:\s*(\d+)\s*,?\s*(.*)$")
# Anchored on the word, not on the optional ", " before it: a leading ``\s*`` would be tried at every
# position of a long run of blanks, which made a 40 KB message of spaces take seconds. The separator before
# the word is trimmed afterwards, in one backward pass.
_INDICES = re.compile(r"ind(?:ices|ex)\s*\[([\d,\s]*)\]\s*(?:\(0-indexed\))?", re.IGNORECASE)


def parse_batch_errors(message: object) -> dict[int, str]:
    """Map element index -> LinkedIn's text for it; ``{}`` when the message names no element."""
    if not isinstance(message, str) or not message:
        return {}
    indexed = _parse_index_lines(message)
    if indexed:
        return indexed
    return _parse_indices_list(message)


def _parse_index_lines(message: str) -> dict[int, str]:
    parts: dict[int, list[str]] = {}
    current: int | None = None
    for raw in message.splitlines():
        line = raw.strip()
        if not line:
            continue
        match = _INDEX_LINE.match(line)
        if match:
            current = int(match.group(1))
            text = match.group(2).strip()
        elif current is None:
            continue  # a preamble before the first "Index:" belongs to no element
        else:
            text = line
        if text:
            parts.setdefault(current, []).append(text)
        else:
            parts.setdefault(current, [])
    return {index: "; ".join(texts) or "rejected by LinkedIn" for index, texts in parts.items()}


def _parse_indices_list(message: str) -> dict[int, str]:
    match = _INDICES.search(message)
    if not match:
        return {}
    indices = [int(token) for token in re.findall(r"\d+", match.group(1))]
    if not indices:
        return {}
    before = message[: match.start()].rstrip().removesuffix(",")
    reason = (before + message[match.end() :]).strip().rstrip(",;").strip() or message
    return dict.fromkeys(indices, reason)
