"""A record of the eventIds LinkedIn accepted, so that a re-run of the same data sends nothing twice.

Whether LinkedIn deduplicates two Conversions API events with the same ``eventId`` is UNKNOWN
(docs/linkedin-contract.md §2.4.2: "assume resends are counted twice"). Deterministic eventIds make a re-run
*recognisable*; this ledger makes it *skip*: after each batch, the eventIds LinkedIn took are appended, and a
later run with the same ``ledger_path`` leaves those events out. Only the batches in flight when a worker
dies (at most ``max_in_flight``) can be sent twice.

The ledger is a folder (local, or any ``ObjectStoragePath`` URI, where objects cannot be appended to) of
part files, one per delivered batch, each a small header (a magic word and the number of digests) and a
run of 8-byte BLAKE2b digests of the eventIds. Parts are written whole (see
:func:`~.storage.write_whole`), so a killed worker leaves a complete part or none. A part that is torn
anyway (written by an older version, which streamed it, or damaged later) is skipped with a warning:
its events are sent again rather than every later run failing on it. Digests keep
it small (8 bytes per event: 40 MB for five million) and hold no identifier; at 64 bits, an accidental
collision among a few million ids is about a one-in-a-million chance for the whole ledger. The digests
are kept in one sorted numpy array, so memory stays flat per event and a batch is looked up with one
``searchsorted``.
"""

from __future__ import annotations

import hashlib
import logging
import uuid
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from airflow_provider_linkedin_capi.transfers.storage import make_folder, storage_path, write_whole

log = logging.getLogger(__name__)

_DIGEST = np.dtype("<u8")
_PART_SUFFIX = ".bin"
#: First 8 bytes of a part: this word, then the digest count as a little-endian uint64. Parts written
#: before the header existed are bare digests; they are still read (a length that is a multiple of 8).
_MAGIC = b"LCAPILD1"
_HEADER_SIZE = 16


def _digests(event_ids: Iterable[str]) -> np.ndarray:
    blake2b = hashlib.blake2b
    raw = b"".join([blake2b(event_id.encode(), digest_size=8).digest() for event_id in event_ids])
    return np.frombuffer(raw, dtype=_DIGEST)


class DeliveryLedger:
    """The eventIds already accepted under ``path``; :meth:`record` adds a batch's, :meth:`delivered` asks."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._folder = storage_path(path)
        make_folder(self._folder)
        self._known = self._load()
        #: Events found in the ledger when it was opened.
        self.loaded = int(self._known.size)

    def _load(self) -> np.ndarray:
        try:
            paths = [part for part in self._folder.iterdir() if part.name.endswith(_PART_SUFFIX)]
        except (FileNotFoundError, NotADirectoryError):  # an object-store prefix not written under yet
            paths = []
        parts = [digests for part in paths if (digests := _read_part(part)) is not None]
        return np.unique(np.concatenate(parts)) if parts else np.empty(0, dtype=_DIGEST)

    def delivered(self, events: Sequence[dict[str, Any]]) -> list[bool]:
        """For each event, whether the ledger holds its eventId."""
        if not self._known.size or not events:
            return [False] * len(events)
        wanted = _digests(event["eventId"] for event in events)
        at = np.searchsorted(self._known, wanted).clip(max=self._known.size - 1)
        return (self._known[at] == wanted).tolist()

    def record(self, event_ids: Sequence[str]) -> None:
        """Add the eventIds LinkedIn accepted, as one new part file (written whole, never appended to).

        What a run records is skipped by later runs; the run itself keeps asking about what the ledger held
        when it opened (merging every batch into the sorted array would cost a sort per batch).
        """
        if not event_ids:
            return
        digests = _digests(event_ids)
        header = _MAGIC + len(digests).to_bytes(8, "little")
        write_whole(self._folder / f"part-{uuid.uuid4().hex}{_PART_SUFFIX}", header + digests.tobytes())


def _read_part(part: Any) -> np.ndarray | None:
    """The digests of one part file; ``None`` (with a warning) when it is torn or unreadable."""
    try:
        data = part.read_bytes()
    except OSError as error:
        log.warning("Skipping delivery-ledger part %s: it cannot be read (%s)", part, error)
        return None
    if data[:8] == _MAGIC:
        count = int.from_bytes(data[8:_HEADER_SIZE], "little")
        if len(data) != _HEADER_SIZE + 8 * count:
            log.warning(
                "Skipping torn delivery-ledger part %s: its header announces %d eventId(s) but it holds "
                "%d bytes; the events it recorded will be sent again",
                part,
                count,
                len(data),
            )
            return None
        return np.frombuffer(data, dtype=_DIGEST, offset=_HEADER_SIZE)
    if len(data) % 8:
        log.warning(
            "Skipping torn delivery-ledger part %s: %d bytes is not a whole number of 8-byte digests; the "
            "events it recorded will be sent again",
            part,
            len(data),
        )
        return None
    return np.frombuffer(data, dtype=_DIGEST)
