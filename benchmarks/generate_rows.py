"""Generate a realistic CRM conversion table in SQLite, fast, and cache it per row count.

A benchmark is only as honest as its input: these rows look like a CRM export (mixed-case, padded emails,
names, companies, titles, countries, amounts in several currencies, SQLite-style zone-less timestamps), and
a small, known share of them is invalid (an email with no ``@``, a conversion older than 90 days), so the
benchmark can check that the sandbox accepted exactly the valid rows.

The file is cached under ``benchmarks/out/`` (git-ignored) and rebuilt when its timestamps would drift
towards LinkedIn's 90-day window, so a cached file never turns valid rows into ``too_old`` rejections.

Run directly to build a file: ``python benchmarks/generate_rows.py --rows 1000000``.
"""

from __future__ import annotations

import argparse
import json
import random
import sqlite3
import time
import unicodedata
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

OUT_DIR = Path(__file__).resolve().parent / "out"
TABLE = "crm_conversions"
CHUNK = 50_000
# Rows are rebuilt once the file is this old, well inside the 90-day window used for the valid rows.
MAX_CACHE_AGE = timedelta(days=7)
# Valid conversions happen within this many days before generation.
VALID_SPAN_DAYS = 30
# One row in INVALID_EMAIL_EVERY has an email with no "@"; one in TOO_OLD_EVERY happened 200 days ago.
INVALID_EMAIL_EVERY = 97
TOO_OLD_EVERY = 211

# fmt: off
FIRST_NAMES = [
    "James", "Mary", "Robert", "Patricia", "John", "Jennifer", "Michael", "Linda", "David", "Elizabeth",
    "William", "Barbara", "Richard", "Susan", "Joseph", "Jessica", "Thomas", "Sarah", "Chloé", "José",
    "Zoë", "Søren", "Łukasz", "Anaïs", "Mårten", "Ngozi", "Hiroshi", "Priya", "Oğuz", "Björn",
]
LAST_NAMES = [
    "Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller", "Davis", "Rodriguez", "Martinez",
    "Hernandez", "Lopez", "Gonzalez", "Wilson", "Anderson", "Thomas", "Taylor", "Moore", "Jackson", "Martin",
    "Müller", "Dupont", "O'Brien", "Nakamura", "Kowalski", "Okafor", "Sharma", "van der Berg", "Yilmaz",
    "Núñez",
]
COMPANIES = [
    "Acme Corp", "Globex", "Initech", "Umbrella Ltd", "Stark Industries", "Wayne Enterprises", "Hooli",
    "Soylent GmbH", "Tyrell SA", "Cyberdyne", "Wonka & Co", "Vandelay Industries", "Pied Piper",
    "Massive Dynamic",
]
TITLES = [
    "Software Engineer", "Head of Marketing", "CFO", "Data Engineer", "VP Sales", "Account Executive",
    "Product Manager", "Director of Operations", "Chief Executive Officer", "Growth Lead",
]
# fmt: on
DOMAINS = ["example.com", "Example.org", "mail.example.net", "corp.example.io", "EXAMPLE.co.uk"]
COUNTRIES = ["US", "GB", "DE", "FR", "NL", "IN", "JP", "BR", "CA", "AU", "ES", "IT", None]
CURRENCIES = ["USD", "EUR", "GBP", "CHF", "JPY", None]


@dataclass(frozen=True)
class GeneratedTable:
    """Where the rows are and how many of them LinkedIn should accept."""

    path: Path
    table: str
    rows: int
    valid_rows: int
    generated_at: str

    @property
    def query(self) -> str:
        return f"SELECT * FROM {self.table} ORDER BY crm_id"


def expected_valid_rows(rows: int) -> int:
    """Count the rows the generator makes valid (neither a bad email nor too old)."""
    invalid = sum(1 for i in range(rows) if i % INVALID_EMAIL_EVERY == 5 or i % TOO_OLD_EVERY == 7)
    return rows - invalid


def _ascii_local(first: str, last: str) -> str:
    # Email local parts stay ASCII so no validator's view of internationalised addresses changes the count.
    text = unicodedata.normalize("NFKD", f"{first}.{last}").encode("ascii", "ignore").decode()
    return text.replace(" ", "").replace("'", "")


_ASCII_LOCAL = {(f, last): _ascii_local(f, last) for f in FIRST_NAMES for last in LAST_NAMES}


def _row(i: int, rnd: random.Random, base: datetime) -> tuple:
    first = FIRST_NAMES[rnd.randrange(len(FIRST_NAMES))]
    last = LAST_NAMES[rnd.randrange(len(LAST_NAMES))]
    domain = DOMAINS[rnd.randrange(len(DOMAINS))]
    local = _ASCII_LOCAL[(first, last)] + str(i)
    email = f" {local}@{domain} " if i % 3 == 0 else f"{local}@{domain}"
    if i % INVALID_EMAIL_EVERY == 5:
        email = f"{local}.at.{domain}"
    if i % TOO_OLD_EVERY == 7:
        happened = base - timedelta(days=200, seconds=rnd.randrange(86_400))
    else:
        happened = base - timedelta(seconds=3_600 + rnd.randrange(VALID_SPAN_DAYS * 86_400))
    currency = CURRENCIES[rnd.randrange(len(CURRENCIES))]
    amount = round(rnd.uniform(5, 5_000), 2) if currency else None
    return (
        i,
        email,
        first,
        last,
        COMPANIES[rnd.randrange(len(COMPANIES))],
        TITLES[rnd.randrange(len(TITLES))],
        COUNTRIES[rnd.randrange(len(COUNTRIES))],
        currency,
        amount,
        happened.strftime("%Y-%m-%d %H:%M:%S"),
        "closed_won" if i % 2 else "demo_booked",
    )


def _build(path: Path, rows: int) -> GeneratedTable:
    tmp = path.with_suffix(".tmp")
    tmp.unlink(missing_ok=True)
    base = datetime.now(UTC).replace(microsecond=0)
    rnd = random.Random(rows)
    conn = sqlite3.connect(tmp)
    try:
        conn.executescript(
            "PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF;"
            f"CREATE TABLE {TABLE} (crm_id INTEGER PRIMARY KEY, email TEXT, firstName TEXT, lastName TEXT,"
            " companyName TEXT, title TEXT, countryCode TEXT, currencyCode TEXT, amount REAL,"
            " conversionHappenedAt TEXT, stage TEXT);"
            "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT);"
        )
        insert = f"INSERT INTO {TABLE} VALUES (?,?,?,?,?,?,?,?,?,?,?)"
        for start in range(0, rows, CHUNK):
            conn.executemany(insert, [_row(i, rnd, base) for i in range(start, min(rows, start + CHUNK))])
        valid = expected_valid_rows(rows)
        meta = {"rows": rows, "valid_rows": valid, "generated_at": base.isoformat()}
        conn.executemany("INSERT INTO meta VALUES (?, ?)", [(k, json.dumps(v)) for k, v in meta.items()])
        conn.commit()
    finally:
        conn.close()
    tmp.replace(path)
    return GeneratedTable(path, TABLE, rows, valid, base.isoformat())


def _read_meta(path: Path) -> dict | None:
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            return {k: json.loads(v) for k, v in conn.execute("SELECT key, value FROM meta")}
        finally:
            conn.close()
    except sqlite3.Error:
        return None


def ensure_rows(rows: int, out_dir: Path = OUT_DIR) -> GeneratedTable:
    """Return the cached table of ``rows`` rows, building it if it is missing or too old."""
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"crm_{rows}.sqlite"
    meta = _read_meta(path) if path.exists() else None
    if meta and meta.get("rows") == rows:
        generated = datetime.fromisoformat(meta["generated_at"])
        if datetime.now(UTC) - generated < MAX_CACHE_AGE:
            return GeneratedTable(path, TABLE, rows, meta["valid_rows"], meta["generated_at"])
    return _build(path, rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, required=True)
    args = parser.parse_args()
    started = time.perf_counter()
    table = ensure_rows(args.rows)
    print(f"{table.path}: {table.rows} rows, {table.valid_rows} valid, {time.perf_counter() - started:.1f}s")


if __name__ == "__main__":
    main()
