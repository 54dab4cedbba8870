"""The least work any CPython push of these rows must do: the floor under ``push_throughput.py``'s figures.

Not a product and not a fair competitor: it validates nothing LinkedIn would not refuse outright, knows
the benchmark table's column order, and handles no errors. Per row it does only what every correct push
must: read the row through the DB-API (``fetchmany``), trim, lower-case and SHA-256 the e-mail, turn
the zone-less timestamp into epoch milliseconds, derive a SHA-256 ``eventId`` from the rule and the CRM
id, build the event, serialise batches of 5,000 with orjson and POST them over one ``requests`` session.
What it costs per CPU second bounds what any implementation on this interpreter and machine can reach.
"""

from __future__ import annotations

import hashlib
import sqlite3
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import requests
from _sandbox_token import refresh_access_token

BATCH_SIZE = 5_000
EPOCH = datetime(1970, 1, 1)
ONE_MS = timedelta(milliseconds=1)


def push_minimal(db_path: str, query: str, conn: dict[str, Any], rule_id: str) -> dict[str, int]:
    """Push the benchmark table's valid rows with the fewest operations; return rows read and events sent."""
    rule = f"urn:lla:llaPartnerConversion:{rule_id}"
    id_prefix = orjson.dumps(["v1", rule])[:-1] + b',"'
    sha256 = hashlib.sha256
    from_iso = datetime.fromisoformat
    earliest = datetime.now(UTC).replace(tzinfo=None) - timedelta(days=89)
    session = requests.Session()
    session.headers.update(
        {
            "Authorization": f"Bearer {refresh_access_token(conn)}",
            "LinkedIn-Version": str((conn.get("extra") or {}).get("api_version")),
            "X-Restli-Protocol-Version": "2.0.0",
            "X-RestLi-Method": "BATCH_CREATE",
            "Content-Type": "application/json",
        }
    )
    url = f"{conn['host'].rstrip('/')}/conversionEvents"
    rows_read = sent = 0
    batch: list[dict[str, Any]] = []
    with sqlite3.connect(db_path) as sql:
        cursor = sql.execute(query)
        while chunk := cursor.fetchmany(BATCH_SIZE):
            rows_read += len(chunk)
            for crm_id, email, first, last, company, title, country, currency, amount, when, _ in chunk:
                email = email.strip().lower()
                happened = from_iso(when)
                if "@" not in email or happened < earliest:
                    continue
                info = {"firstName": first, "lastName": last, "companyName": company, "title": title}
                if country is not None:
                    info["countryCode"] = country
                user_ids = [{"idType": "SHA256_EMAIL", "idValue": sha256(email.encode()).hexdigest()}]
                event: dict[str, Any] = {
                    "conversion": rule,
                    "conversionHappenedAt": (happened - EPOCH) // ONE_MS,
                    "eventId": sha256(id_prefix + b'%d"]' % crm_id).hexdigest(),
                    "user": {"userIds": user_ids, "userInfo": info},
                }
                if amount is not None and currency is not None:
                    event["conversionValue"] = {"currencyCode": currency, "amount": f"{amount:.2f}"}
                batch.append(event)
                if len(batch) == BATCH_SIZE:
                    sent += _post(session, url, batch)
                    batch = []
    if batch:
        sent += _post(session, url, batch)
    return {"rows_read": rows_read, "events_sent": sent, "events_rejected": rows_read - sent}


def _post(session: requests.Session, url: str, batch: list[dict[str, Any]]) -> int:
    response = session.post(url, data=orjson.dumps({"elements": batch}), timeout=60)
    response.raise_for_status()
    return len(batch)
