"""Rows of one run that derive the same eventId (a JOIN fan-out): the event goes once, the rest are counted.

A query that joins deals to their contacts or line items returns a deal once per match; with
``key_columns=["deal_id"]`` every copy derives the same eventId. Sending each copy would count one
conversion several times (whether LinkedIn deduplicates resent eventIds is UNKNOWN), so only the first
copy is handed on, and the others are counted as ``duplicate_rows`` (or fail the task, with
``on_duplicate="fail"``).

Every eventId handed on has to be remembered for the rest of the run, so memory is what matters: a
Python set of strings would cost about 150 bytes per row (750 MB at five million). The ids are kept as
64-bit hashes (Python's own string hash: computed once per string and cached on it, so nearly free on
the hot path, and stable within one process, which is all a single run needs). The newest hashes sit
in a small set; past ``_SET_LIMIT`` they move into sorted numpy arrays, merged like a log-structured
tree (arrays of similar size merged, up to about a million hashes each), so a five-million-row run
holds about 8 bytes per id plus a merge buffer of at most 16 MB, and a batch is looked up with one
``searchsorted`` per array. numpy is
only imported once a run passes that limit. Two different eventIds with the same 64-bit hash (about a
one-in-a-million chance among five million ids) would make the second look like a repeat.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from airflow.providers.common.compat.sdk import AirflowFailException

ON_DUPLICATE_CHOICES = ("send_once", "fail")
#: Hashes kept in the plain set before they move to the compact arrays (about 6 MB of set at most).
_SET_LIMIT = 1 << 16
#: An array is merged into the one before it once that one is at most this many times larger: fewer
#: arrays to search per batch, against more re-sorting when merging.
_MERGE_RATIO = 4
#: Arrays are not merged past this many hashes (8 MB): a merge holds both arrays and their copy at once,
#: so a larger cap raises the push's peak memory by twice the largest array (at 4M hashes, a five-million-
#: row push peaked at 264 MB, over the 250 MB target). Five million rows end as about six arrays to search
#: per batch, each a C-level ``searchsorted``.
_MAX_RUN = 1 << 20

BatchSink = Callable[[list[dict[str, Any]], Sequence[int]], None]


class DuplicateRowError(AirflowFailException):
    """A repeated eventId under ``on_duplicate="fail"``: the query is wrong, so a retry would not help."""

    def __init__(self, row: int, event_id: str) -> None:
        super().__init__(
            f"Row {row} of the query result repeats eventId {event_id!r} of an earlier row (a JOIN that "
            "returns a conversion more than once, or key_columns that do not identify a row). "
            "on_duplicate='fail' stops here; with on_duplicate='send_once' the event is sent once and the "
            "repeats are counted as duplicate_rows."
        )
        self.row = row


class SeenEventIds:
    """The eventIds of one run, as 64-bit hashes: ``first_copies`` tells which of a batch are new."""

    def __init__(self) -> None:
        self._recent: set[int] = set()
        self._runs: list[Any] = []  # sorted numpy int64 arrays, largest first
        self._np: Any = None

    def __len__(self) -> int:
        return len(self._recent) + sum(int(run.size) for run in self._runs)

    def first_copies(self, event_ids: Sequence[str]) -> list[bool] | None:
        """For each id, whether this run sees it for the first time; ``None`` when all of them are new.

        All of them count as seen afterwards. The common batch (no repeats) takes set operations and one
        sorted ``searchsorted`` per array, no Python loop per id.
        """
        hashes = list(map(hash, event_ids))
        batch = set(hashes)
        recent = self._recent
        older = self._in_runs(hashes) if self._runs else None
        if len(batch) == len(hashes) and recent.isdisjoint(batch) and older is None:
            recent |= batch
            if len(recent) >= _SET_LIMIT:
                self._flush()
            return None
        first: list[bool] = []
        for position, value in enumerate(hashes):
            new = value not in recent and not (older is not None and older[position])
            if new:
                recent.add(value)
            first.append(new)
        if len(recent) >= _SET_LIMIT:
            self._flush()
        return first

    def _in_runs(self, hashes: list[int]) -> list[bool] | None:
        """Which hashes the sorted arrays hold; ``None`` when none of them does."""
        np = self._np
        wanted = np.fromiter(hashes, dtype=np.int64, count=len(hashes))
        order = np.argsort(wanted)
        needles = wanted[order]  # sorted needles walk each array in order: far fewer cache misses
        found = np.zeros(len(hashes), dtype=bool)
        for run in self._runs:
            at = np.searchsorted(run, needles).clip(max=run.size - 1)
            found |= run[at] == needles
        if not found.any():
            return None
        in_order = np.empty_like(found)
        in_order[order] = found
        return in_order.tolist()

    def _flush(self) -> None:
        if self._np is None:
            import numpy

            self._np = numpy
        np = self._np
        run = np.fromiter(self._recent, dtype=np.int64, count=len(self._recent))
        run.sort()
        self._recent = set()
        runs = self._runs
        runs.append(run)
        while (
            len(runs) > 1
            and runs[-2].size <= _MERGE_RATIO * runs[-1].size
            and runs[-2].size + runs[-1].size <= _MAX_RUN
        ):
            smaller = runs.pop()
            merged = np.concatenate((runs.pop(), smaller))
            merged.sort()  # in place; the arrays hold distinct hashes, so stability does not matter
            runs.append(merged)


class DuplicateFilter:
    """Sits in front of the batch sink: passes on each eventId's first copy, counts or refuses the rest.

    ``sink`` is set by the push once it knows where batches go (the spool, or the batches in flight).
    """

    sink: BatchSink

    def __init__(self, *, fail: bool = False) -> None:
        self.fail = fail
        self.seen = SeenEventIds()
        #: Rows left out because an earlier row of this run had the same eventId.
        self.duplicate_rows = 0

    def __call__(self, events: list[dict[str, Any]], rows: Sequence[int]) -> None:
        first = self.seen.first_copies([event["eventId"] for event in events])
        if first is None:
            self.sink(events, rows)
            return
        if self.fail:
            at = first.index(False)
            raise DuplicateRowError(rows[at], events[at]["eventId"])
        self.duplicate_rows += first.count(False)
        keep = [i for i, new in enumerate(first) if new]
        if keep:
            self.sink([events[i] for i in keep], [rows[i] for i in keep])
