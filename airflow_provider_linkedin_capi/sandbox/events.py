"""Accepted conversion events, per rule, in one of two memory footprints.

Both modes pack eventId and conversionHappenedAt into arrays (about 20 bytes plus the id's length per
event). ``full`` also keeps each element as received, as compact orjson bytes rather than nested dicts
(several times smaller), for assertions on bodies; ``ids`` keeps nothing more, so that million-row
benchmarks fit. Duplicates by eventId are never removed (CAPI↔CAPI dedup is UNKNOWN on LinkedIn): every
copy is kept and counted, the counting done lazily when stats are asked for.
"""

from __future__ import annotations

from array import array
from collections import Counter

import orjson

from airflow_provider_linkedin_capi.sandbox.restli import CONVERSION_PREFIX

_PREFIX_LEN = len(CONVERSION_PREFIX)


class _RuleLog:
    """eventIds packed into one bytearray (b"" marks a missing id), times in a signed 64-bit array."""

    def __init__(self, keep_bodies: bool) -> None:
        self.blob = bytearray()
        self.ends = array("Q")
        self.times = array("q")
        # bodies concatenated in one buffer: a bytes object per body would cost orjson's 4 KB buffer each
        self.bodies: bytearray | None = bytearray() if keep_bodies else None
        self.body_ends = array("Q")

    def add(self, event_id: str | None, happened_at: int, body: bytes | None = None) -> None:
        if event_id is not None:
            self.blob += b"\x01"
            self.blob += event_id.encode()
        self.ends.append(len(self.blob))
        self.times.append(happened_at)
        if self.bodies is not None:
            self.bodies += body  # type: ignore[operator]
            self.body_ends.append(len(self.bodies))

    def __len__(self) -> int:
        return len(self.times)

    def event_id(self, index: int) -> str | None:
        start = self.ends[index - 1] if index else 0
        end = self.ends[index]
        return None if start == end else self.blob[start + 1 : end].decode()

    def item(self, index: int, rule_id: int) -> dict:
        if self.bodies is not None:
            start = self.body_ends[index - 1] if index else 0
            return orjson.loads(memoryview(self.bodies)[start : self.body_ends[index]])
        out = {"conversion": f"{CONVERSION_PREFIX}{rule_id}", "conversionHappenedAt": self.times[index]}
        event_id = self.event_id(index)
        if event_id is not None:
            out["eventId"] = event_id
        return out


class EventStore:
    def __init__(self, mode: str) -> None:
        if mode not in ("full", "ids"):
            raise ValueError("store mode must be 'full' or 'ids'")
        self.mode = mode
        self.reset()

    def reset(self) -> None:
        self.by_rule: dict[int, _RuleLog] = {}
        self._hashes = array("q")
        self._dup_cache: tuple[int, int, int] | None = None
        self.total = 0

    def add(
        self, elements: list[dict], bodies: list[bytes] | None = None
    ) -> list[tuple[int, str | None, int, bytes | None]]:
        """Store accepted elements; return persistence rows ``(rule_id, eventId, happenedAt, body)``.

        :param bodies: the elements already serialised (when loading from SQLite).
        """
        full = self.mode == "full"
        dumps = orjson.dumps
        rows = []
        by_rule = self.by_rule
        hashes = self._hashes
        rule_ids: dict[str, int] = {}
        for position, el in enumerate(elements):
            conversion = el["conversion"]
            rule_id = rule_ids.get(conversion)
            if rule_id is None:
                rule_id = rule_ids[conversion] = int(conversion[_PREFIX_LEN:])
            event_id = el.get("eventId")
            happened = int(el["conversionHappenedAt"])
            log = by_rule.get(rule_id)
            if log is None:
                log = by_rule[rule_id] = _RuleLog(full)
            body = None
            if full:
                body = bodies[position] if bodies is not None else dumps(el)
            log.add(event_id, happened, body)
            if event_id is not None:
                hashes.append(hash(event_id))
            rows.append((rule_id, event_id, happened, body))
        self.total += len(elements)
        return rows

    def add_loaded(self, rule_id: int, event_id: str | None, happened: int, body: bytes | None) -> None:
        el = {"conversion": f"{CONVERSION_PREFIX}{rule_id}", "conversionHappenedAt": happened}
        if event_id is not None:
            el["eventId"] = event_id
        body = body if body is not None else orjson.dumps(el)
        self.add([el], [body] if self.mode == "full" else None)

    def counts_by_rule(self) -> dict[str, int]:
        return {str(rule_id): len(log) for rule_id, log in sorted(self.by_rule.items())}

    def duplicate_stats(self) -> tuple[int, int]:
        """``(distinct eventIds, eventIds seen more than once)``, cached until the next add."""
        size = len(self._hashes)
        if self._dup_cache is None or self._dup_cache[0] != size:
            import numpy as np

            values = np.frombuffer(self._hashes, dtype=np.int64) if size else np.empty(0, dtype=np.int64)
            _, counts = np.unique(values, return_counts=True)
            self._dup_cache = (size, len(counts), int((counts > 1).sum()))
        return self._dup_cache[1], self._dup_cache[2]

    def _iter_rules(self, rule_id: int | None) -> list[tuple[int, _RuleLog]]:
        if rule_id is not None:
            log = self.by_rule.get(rule_id)
            return [(rule_id, log)] if log is not None else []
        return sorted(self.by_rule.items())

    def events(self, rule_id: int | None, offset: int, limit: int | None) -> tuple[list[dict], int]:
        out: list[dict] = []
        total = 0
        for rid, log in self._iter_rules(rule_id):
            size = len(log)
            start = max(0, offset - total)
            total += size
            if start >= size or (limit is not None and len(out) >= limit):
                continue
            stop = size if limit is None else min(size, start + limit - len(out))
            out.extend(log.item(i, rid) for i in range(start, stop))
        return out, total

    def event_id_counts(self, rule_id: int | None) -> dict[str, int]:
        counter: Counter[str] = Counter()
        for _, log in self._iter_rules(rule_id):
            counter.update(eid for eid in map(log.event_id, range(len(log))) if eid is not None)
        return dict(counter)
