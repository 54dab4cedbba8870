"""Request bodies as LinkedIn receives them: JSON written by orjson, and batches of events kept that way.

A push keeps up to ``max_in_flight`` batches waiting for LinkedIn's answer. Held as dicts, 5,000 events
take about 10 MB of Python objects; written as the request body they take about 2.2 MB, and the body has
to be written anyway. :class:`EncodedEvents` is a batch in that form: the body is written once, on the
thread that built the events, and sent as it is. Reading an event back (to explain a refusal, or to split a
batch LinkedIn refused) decodes the body once, which takes tens of milliseconds for 5,000 events; only
those rare paths pay it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any, overload

import orjson


def json_body(value: Any) -> bytes:
    """``value`` as a request body: any mapping or sequence as a JSON object or list, a Decimal as text."""
    return orjson.dumps(value, default=_json_default)


def _json_default(value: Any) -> Any:
    if isinstance(value, Mapping):
        return dict(value)
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, Sequence) and not isinstance(value, str | bytes):
        return list(value)
    raise TypeError(f"cannot send a {type(value).__name__} to LinkedIn as JSON")


class EncodedEvents(Sequence[dict[str, Any]]):
    """The events of one BATCH_CREATE, held as its request body (``{"elements": [...]}``) instead of dicts.

    A read-only sequence of the events: indexing decodes the body once and keeps the dicts for the life of
    this object (a batch lives until it is settled). Writing the body raises like :func:`json_body` does
    (``TypeError`` or ``orjson.JSONEncodeError``), so an event that cannot be sent fails where it was built.
    """

    __slots__ = ("_count", "_decoded", "body")

    def __init__(self, events: Sequence[Mapping[str, Any]]) -> None:
        written = json_body({"elements": events})
        #: The BATCH_CREATE request body, sent as it is. orjson leaves its buffer up to twice the size of
        #: what it wrote; a batch that waits in flight keeps an exact copy instead (a memcpy of ~2 MB).
        self.body: bytes = bytes(memoryview(written))
        self._count = len(events)
        self._decoded: list[dict[str, Any]] | None = None

    def __len__(self) -> int:
        return self._count

    @overload
    def __getitem__(self, index: int) -> dict[str, Any]: ...

    @overload
    def __getitem__(self, index: slice) -> list[dict[str, Any]]: ...

    def __getitem__(self, index: int | slice) -> dict[str, Any] | list[dict[str, Any]]:
        return self.decoded()[index]

    def decoded(self) -> list[dict[str, Any]]:
        """The events as dicts, decoded from the body on first use."""
        if self._decoded is None:
            self._decoded = orjson.loads(self.body)["elements"]
        return self._decoded

    def __repr__(self) -> str:
        return f"<EncodedEvents: {self._count} event(s), {len(self.body):,} bytes>"
