"""Optional SQLite file behind the in-memory state, so a restarted sandbox keeps rules, links and events.

Writes are synchronous but cheap (one ``executemany`` and one commit per accepted request); reads happen
only at start. Tokens, faults, counters and settings are deliberately not persisted.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator

import orjson

_SCHEMA = """
CREATE TABLE IF NOT EXISTS rules (id INTEGER PRIMARY KEY, body BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS links (rule_id INTEGER NOT NULL, campaign TEXT NOT NULL,
    associated_at INTEGER NOT NULL, PRIMARY KEY (rule_id, campaign));
CREATE TABLE IF NOT EXISTS campaigns (account TEXT NOT NULL, campaign TEXT NOT NULL,
    PRIMARY KEY (account, campaign));
CREATE TABLE IF NOT EXISTS events (seq INTEGER PRIMARY KEY AUTOINCREMENT, rule_id INTEGER NOT NULL,
    event_id TEXT, happened_at INTEGER NOT NULL, body BLOB);
"""


class SqlitePersistence:
    def __init__(self, path: str) -> None:
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)

    def rules(self) -> Iterator[dict]:
        for (body,) in self._db.execute("SELECT body FROM rules ORDER BY id"):
            yield orjson.loads(body)

    def links(self) -> Iterator[tuple[int, str, int]]:
        yield from self._db.execute("SELECT rule_id, campaign, associated_at FROM links ORDER BY rowid")

    def campaigns(self) -> Iterator[tuple[str, str]]:
        yield from self._db.execute("SELECT account, campaign FROM campaigns ORDER BY rowid")

    def events(self) -> Iterator[tuple[int, str | None, int, bytes | None]]:
        yield from self._db.execute("SELECT rule_id, event_id, happened_at, body FROM events ORDER BY seq")

    def save_rule(self, rule: dict) -> None:
        self._db.execute(
            "INSERT OR REPLACE INTO rules (id, body) VALUES (?, ?)", (rule["id"], orjson.dumps(rule))
        )

    def save_links(self, rule_id: int, links: dict[str, int]) -> None:
        with self._db:
            self._db.execute("BEGIN")
            self._db.execute("DELETE FROM links WHERE rule_id = ?", (rule_id,))
            self._db.executemany(
                "INSERT INTO links (rule_id, campaign, associated_at) VALUES (?, ?, ?)",
                [(rule_id, campaign, at) for campaign, at in links.items()],
            )

    def add_campaigns(self, account: str, campaigns: list[str]) -> None:
        self._db.executemany(
            "INSERT OR IGNORE INTO campaigns (account, campaign) VALUES (?, ?)",
            [(account, c) for c in campaigns],
        )

    def add_events(self, rows: list[tuple[int, str | None, int, bytes | None]]) -> None:
        with self._db:
            self._db.execute("BEGIN")
            self._db.executemany(
                "INSERT INTO events (rule_id, event_id, happened_at, body) VALUES (?, ?, ?, ?)", rows
            )

    def clear(self) -> None:
        with self._db:
            self._db.execute("BEGIN")
            for table in ("rules", "links", "campaigns", "events"):
                self._db.execute(f"DELETE FROM {table}")

    def close(self) -> None:
        self._db.close()
