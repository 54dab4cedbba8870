"""The hand-written pandas + requests push that users put in a PythonOperator today.

This is the yardstick for ``push_throughput.py``: the code a careful data engineer writes without the
provider. It reads the whole query with ``pd.read_sql``, normalises and hashes emails per row with
``Series.apply`` and ``hashlib``, drops what LinkedIn would refuse (no ``@``, older than 89 days), builds
one dict per row, and POSTs ``json.dumps`` batches of 5,000 with ``requests``. It is deliberately not a
straw man: it batches, reuses one HTTP session and vectorises the timestamp parsing, but it holds the
whole result set (and every event) in memory, as such code does.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from typing import Any

import pandas as pd
import requests
from _sandbox_token import refresh_access_token

BATCH_SIZE = 5_000


def _hash_email(email: str) -> str:
    return hashlib.sha256(email.encode("utf-8")).hexdigest()


def push_with_pandas(db_path: str, query: str, conn: dict[str, Any], rule_id: str) -> dict[str, int]:
    """Push every row of ``query`` as a conversion of ``rule_id``; return rows read and events sent."""
    with sqlite3.connect(db_path) as sql:
        df = pd.read_sql(query, sql)
    rows_read = len(df)

    df["email_clean"] = df["email"].apply(lambda e: e.strip().lower() if isinstance(e, str) else None)
    df = df[df["email_clean"].str.contains("@", na=False)].copy()
    df["happened"] = pd.to_datetime(df["conversionHappenedAt"], utc=True)
    df = df[df["happened"] > pd.Timestamp.now(tz="UTC") - pd.Timedelta(days=89)].copy()
    df["sha256_email"] = df["email_clean"].apply(_hash_email)
    df["happened_ms"] = df["happened"].apply(lambda t: int(t.timestamp() * 1000))

    rule_urn = f"urn:lla:llaPartnerConversion:{rule_id}"
    events = []
    for row in df.to_dict("records"):
        event: dict[str, Any] = {
            "conversion": rule_urn,
            "conversionHappenedAt": row["happened_ms"],
            "eventId": hashlib.sha256(f"{rule_id}:{row['crm_id']}".encode()).hexdigest()[:32],
            "user": {"userIds": [{"idType": "SHA256_EMAIL", "idValue": row["sha256_email"]}]},
        }
        if pd.notna(row["firstName"]) and pd.notna(row["lastName"]):
            info = {"firstName": row["firstName"], "lastName": row["lastName"]}
            if pd.notna(row["companyName"]):
                info["companyName"] = row["companyName"]
            if pd.notna(row["title"]):
                info["title"] = row["title"]
            if pd.notna(row["countryCode"]):
                info["countryCode"] = row["countryCode"]
            event["user"]["userInfo"] = info
        if pd.notna(row["currencyCode"]) and pd.notna(row["amount"]):
            event["conversionValue"] = {"currencyCode": row["currencyCode"], "amount": f"{row['amount']:.2f}"}
        events.append(event)

    extra = conn.get("extra") or {}
    session = requests.Session()
    session.headers.update(
        {
            "Authorization": f"Bearer {refresh_access_token(conn)}",
            "LinkedIn-Version": extra.get("api_version", "202609"),
            "X-Restli-Protocol-Version": "2.0.0",
            "X-RestLi-Method": "BATCH_CREATE",
            "Content-Type": "application/json",
        }
    )
    url = f"{conn['host'].rstrip('/')}/conversionEvents"
    sent = 0
    for start in range(0, len(events), BATCH_SIZE):
        batch = events[start : start + BATCH_SIZE]
        response = session.post(url, data=json.dumps({"elements": batch}), timeout=120)
        response.raise_for_status()
        sent += len(batch)
    return {"rows_read": rows_read, "events_sent": sent}
