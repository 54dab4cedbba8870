"""Rows per second through ``EventBuilder.build`` on typical CRM rows (not a test; run it by hand).

    .venv/bin/python tests/conversions/bench_builder.py [rows]

Typical row: raw e-mail, both names, a float amount with a currency, an epoch-ms time, a CRM id that is
not a contract column; eventIds derived from the content (the costlier recipe). A second pass uses the
CRM id as key column. The figure is CPU time of this process only. For scale on the machine at hand, the
same rows also go through a "floor": the least any transform must do (hash the e-mail, build the dicts,
hash an eventId) with no checks at all; the builder's cost above it is the price of validation.
"""

from __future__ import annotations

import hashlib
import random
import sys
import time
from datetime import UTC, datetime

import orjson

from airflow_provider_linkedin_capi.conversions import ConversionSettings, EventBuilder, Rejection

COLUMNS = ["crm_id", "email", "firstName", "lastName", "currencyCode", "amount", "conversionHappenedAt"]
FIRST_NAMES = ["Ada", "Grace", "Alan", "Edsger", "Barbara", "Donald", "Frances", "John"]
LAST_NAMES = ["Lovelace", "Hopper", "Turing", "Dijkstra", "Liskov", "Knuth", "Allen", "Backus"]


def typical_rows(count: int, now: datetime) -> list[tuple]:
    rng = random.Random(42)
    now_ms = int(now.timestamp() * 1000)
    return [
        (
            f"opp-{number}",
            f"  Person.{number}@Example{number % 97}.com ",
            rng.choice(FIRST_NAMES),
            rng.choice(LAST_NAMES),
            "USD",
            round(rng.uniform(1, 5000), 2),
            now_ms - rng.randrange(60 * 86_400_000),
        )
        for number in range(count)
    ]


def floor_build(row: tuple) -> dict:
    """No checks, no conversions: only the work every correct transform has to do."""
    sha256 = hashlib.sha256
    email_hash = sha256(row[1].strip().lower().encode()).hexdigest()
    user = {
        "userIds": [{"idType": "SHA256_EMAIL", "idValue": email_hash}],
        "userInfo": {"firstName": row[2].strip(), "lastName": row[3].strip()},
    }
    value = {"currencyCode": row[4], "amount": f"{row[5]:.2f}"}
    event = {"conversion": "urn:lla:llaPartnerConversion:104012", "conversionHappenedAt": row[6]}
    event["conversionValue"] = value
    event["eventId"] = sha256(orjson.dumps(("v1", event["conversion"], row[6], user, value))).hexdigest()
    event["user"] = user
    return event


class _Floor:
    build = staticmethod(floor_build)


def measure(builder: EventBuilder | _Floor, rows: list[tuple]) -> float:
    build = builder.build
    started = time.process_time()
    rejected = 0
    for row in rows:
        if build(row).__class__ is Rejection:
            rejected += 1
    elapsed = time.process_time() - started
    assert rejected == 0, f"{rejected} typical rows were rejected"
    return len(rows) / elapsed


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 200_000
    now = datetime.now(UTC)
    rows = typical_rows(count, now)
    content_ids = EventBuilder(COLUMNS, ConversionSettings(conversion_rule_id=104012, now=now))
    key_ids = EventBuilder(
        COLUMNS, ConversionSettings(conversion_rule_id=104012, key_columns=["crm_id"], now=now)
    )
    measure(content_ids, rows[:10_000])  # warm caches and lazily loaded tables
    runs = (
        ("content-derived eventIds", content_ids),
        ("key-column eventIds", key_ids),
        ("floor (no checks)", _Floor()),
    )
    for label, builder in runs:
        rate = max(measure(builder, rows) for _ in range(3))
        print(f"{label:26s} {count:>9,} rows  {rate:>10,.0f} rows per CPU second (best of 3)")


if __name__ == "__main__":
    main()
