"""Checks of a whole push: what the sandbox received, what the rejects file says, what the summary counts."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import orjson

from airflow_provider_linkedin_capi.sandbox.testing import SandboxProcess

from .crm_rows import SENT, CrmRow, raw_pii, rule_urn

REJECTS_KEYS = {"row", "event_id", "code", "field", "message", "value", "keys", "sha256_email"}
#: Offending values a rejects line quotes (not personal data), by the contract column at fault.
QUOTED_FIELDS = {"currencyCode", "countryCode", "conversionHappenedAt", "amount", "conversion"}


def read_rejects(path: Path) -> list[dict[str, Any]]:
    return [orjson.loads(line) for line in path.read_bytes().splitlines()]


def expected_codes(rows: list[CrmRow], refused_by_linkedin: set[int] = frozenset()) -> dict[int, str]:
    """Row number (1-based position in the query result) -> expected rejection code."""
    codes = {}
    for position, row in enumerate(rows, start=1):
        if row.expect != SENT:
            codes[position] = row.expect
        elif row.seq in refused_by_linkedin:
            codes[position] = "rejected_by_linkedin"
    return codes


def assert_delivered_exactly(sandbox: SandboxProcess, rows: list[CrmRow], rule_ids: dict[str, int]) -> None:
    """Each row arrived once, under its rule, with the right hash, millisecond time, value and user."""
    received = sandbox.admin.events()
    by_id = {event["eventId"]: event for event in received}
    assert len(by_id) == len(received), "an eventId arrived more than once"
    assert set(by_id) == {row.event_id(rule_ids) for row in rows}
    for row in rows:
        event = by_id[row.event_id(rule_ids)]
        context = f"row {row.seq} ({row.crm_id})"
        assert event["conversion"] == rule_urn(rule_ids[row.rule]), context
        assert event["conversionHappenedAt"] == row.happened_ms, context
        assert event.get("conversionValue") == row.conversion_value, context
        user = event["user"]
        id_types = [user_id["idType"] for user_id in user["userIds"]]
        assert sorted(id_types) == sorted(row.id_types), context
        emails = [u["idValue"] for u in user["userIds"] if u["idType"] == "SHA256_EMAIL"]
        assert emails == ([row.sha256_email] if row.sha256_email else []), context
        assert {key: value for key, value in user.items() if key != "userIds"} == row.user_extra, context
    assert sandbox.admin.event_ids() == {row.event_id(rule_ids): 1 for row in rows}


def assert_rejects_file(path: Path, rows: list[CrmRow], codes: dict[int, str]) -> list[dict[str, Any]]:
    """One line per rejected row with its code; hashed identifiers only, never a raw e-mail, name or IP."""
    lines = read_rejects(path)
    assert {line["row"]: line["code"] for line in lines} == codes
    assert len(lines) == len(codes)
    for line in lines:
        assert set(line) == REJECTS_KEYS
        assert line["message"]
        row = rows[line["row"] - 1]
        # The CRM row can be found again: its key column, and the offending value where it is not personal.
        # LinkedIn's own refusals come back by eventId, after the row is gone: they carry event_id only.
        if line["code"] == "rejected_by_linkedin":
            assert line["keys"] is None, line
            assert line["event_id"], line
        else:
            assert line["keys"] == {"crm_id": row.crm_id}, line
        raw = row.values.get(line["field"]) if line["field"] in QUOTED_FIELDS else None
        if raw is not None and line["code"] != "rejected_by_linkedin":
            assert line["value"] == (raw.isoformat() if hasattr(raw, "isoformat") else str(raw)), line
        elif line["field"] not in QUOTED_FIELDS:
            assert line["value"] is None, line
        if row.sha256_email and line["code"] not in {"invalid_email", "invalid_hash"}:
            assert line["sha256_email"] == row.sha256_email, line
    text = path.read_text().lower()
    leaked = {value for value in raw_pii(rows) if value in text}
    assert not leaked, f"raw identifiers in the rejects file: {leaked}"
    return lines


def assert_summary(
    summary: dict[str, Any], rows: list[CrmRow], codes: dict[int, str], *, dry_run: bool
) -> None:
    sent = len(rows) - len(codes)
    assert summary["rows_read"] == len(rows)
    assert summary["events_sent"] == sent
    assert summary["events_rejected"] == len(codes)
    assert summary["rejections"] == dict(Counter(codes.values()))
    assert summary["dry_run"] is dry_run
    delivered = [row.happened_ms for position, row in enumerate(rows, 1) if position not in codes]
    assert summary["first_event_at"] == _iso(min(delivered))
    assert summary["last_event_at"] == _iso(max(delivered))
    assert orjson.loads(orjson.dumps(summary)) == summary  # plain JSON for XCom


def _iso(epoch_ms: int) -> str:
    from datetime import UTC, datetime

    return (
        datetime.fromtimestamp(epoch_ms / 1000, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    )
