"""DataFrames through the push's pipeline: operator, ``push_dataframe``, pandas' missing values, times."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pandas as pd
import pyarrow as pa
import pytest
from airflow.providers.common.compat.sdk import AirflowFailException

from airflow_provider_linkedin_capi.exceptions import KeyColumnError
from airflow_provider_linkedin_capi.push.sources import table_rows
from airflow_provider_linkedin_capi.transfers.dataframe_to_linkedin_capi import (
    DataFrameToLinkedInCapiOperator,
    push_dataframe,
)

from .crm_rows import rule_urn
from .outcome import read_rejects

NOW = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)
PARIS = ZoneInfo("Europe/Paris")


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def leads_frame() -> pd.DataFrame:
    """Six leads: three valid, and one NULL of each pandas spelling where it matters."""
    aware = pd.to_datetime(
        [NOW - timedelta(minutes=n) for n in (1, 2, 3)] + [pd.NaT, NOW - timedelta(minutes=5), NOW],
        utc=True,
    )
    return pd.DataFrame(
        {
            "crm_id": ["c1", "c2", "c3", "c4", "c5", "c6"],
            "conversionHappenedAt": aware,  # datetime64[ns, UTC], one NaT
            "email": ["a@example.com", "B@Example.com ", "c@example.com", "d@example.com", pd.NA, None],
            "li_fat_id": [None, None, None, None, float("nan"), None],
            "currencyCode": ["USD", None, "EUR", None, None, None],
            "amount": [10.5, float("nan"), 3.0, None, None, None],
            "firstName": ["Ann", pd.NA, None, None, None, None],
        }
    )


EXPECTED_SENT = {
    "c1": (sha256("a@example.com"), NOW - timedelta(minutes=1), {"currencyCode": "USD", "amount": "10.50"}),
    "c2": (sha256("b@example.com"), NOW - timedelta(minutes=2), None),
    "c3": (sha256("c@example.com"), NOW - timedelta(minutes=3), {"currencyCode": "EUR", "amount": "3.00"}),
}
EXPECTED_REJECTED = {4: "missing_timestamp", 5: "no_identifier", 6: "no_identifier"}


def check_delivery(linkedin, rule_id, summary) -> dict[str, dict]:
    events = linkedin.admin.events(rule_id)
    by_email = {
        next(u["idValue"] for u in e["user"]["userIds"] if u["idType"] == "SHA256_EMAIL"): e for e in events
    }
    assert len(events) == len(EXPECTED_SENT)
    for email_hash, moment, value in EXPECTED_SENT.values():
        event = by_email[email_hash]
        assert event["conversion"] == rule_urn(rule_id)
        assert event["conversionHappenedAt"] == ms(moment)
        assert event.get("conversionValue") == value
    assert summary["rows_read"] == 6
    assert summary["events_sent"] == 3
    assert summary["rejections"] == {"missing_timestamp": 1, "no_identifier": 2}
    return {e["eventId"]: e for e in events}


def test_the_operator_sends_a_pandas_frame_with_its_missing_values_as_null(linkedin, rule_ids, tmp_path):
    rejects = tmp_path / "rejects.jsonl"
    op = DataFrameToLinkedInCapiOperator(
        task_id="push",
        dataframe=leads_frame(),
        conversion_rule_id=rule_ids["main"],
        key_columns=["crm_id"],
        rejects_path=str(rejects),
        chunk_size=4,  # rows cross a chunk boundary
    )

    summary = op.execute(context={})

    check_delivery(linkedin, rule_ids["main"], summary)
    assert {line["row"]: line["code"] for line in read_rejects(rejects)} == EXPECTED_REJECTED
    text = rejects.read_text().lower()
    assert "d@example.com" not in text
    assert "ann" not in text


def test_a_pyarrow_table_sends_the_same_events_as_the_pandas_frame(linkedin, rule_ids, tmp_path):
    frame = leads_frame()
    pandas_summary = push_dataframe(
        frame, conversion_rule_id=rule_ids["main"], key_columns=["crm_id"], context={}
    )
    from_pandas = check_delivery(linkedin, rule_ids["main"], pandas_summary)

    table = pa.Table.from_pandas(frame, preserve_index=False)
    arrow_summary = push_dataframe(
        table, conversion_rule_id=rule_ids["second"], key_columns=["crm_id"], context={}, batch_size=2
    )

    from_arrow = check_delivery(linkedin, rule_ids["second"], arrow_summary)
    # Sorted: two batches of two are in flight at once, so they may reach the sandbox in either order.
    assert sorted(e["conversionHappenedAt"] for e in from_arrow.values()) == sorted(
        e["conversionHappenedAt"] for e in from_pandas.values()
    )


def test_naive_datetime64_columns_are_read_in_default_timezone(linkedin, rule_ids):
    local = NOW.astimezone(PARIS).replace(tzinfo=None)
    frame = pd.DataFrame(
        {
            "conversionHappenedAt": pd.Series([local, local - timedelta(seconds=1)], dtype="datetime64[ns]"),
            "email": ["x@example.com", "y@example.com"],
        }
    )

    summary = push_dataframe(
        frame, conversion_rule_id=rule_ids["main"], default_timezone="Europe/Paris", context={}
    )

    assert summary["events_sent"] == 2
    times = sorted(e["conversionHappenedAt"] for e in linkedin.admin.events())
    assert times == [ms(NOW) - 1000, ms(NOW)]


def test_object_columns_of_timestamps_in_several_zones_and_nullable_int_epochs(linkedin, rule_ids):
    tokyo = pd.Timestamp(NOW).tz_convert("Asia/Tokyo")
    paris = pd.Timestamp(NOW - timedelta(minutes=1)).tz_convert("Europe/Paris")
    frame = pd.DataFrame(
        {
            "conversionHappenedAt": pd.Series([tokyo, paris, None, pd.NaT], dtype=object),
            "email": ["t@example.com", "p@example.com", "n@example.com", "m@example.com"],
        }
    )
    epochs = pd.DataFrame(
        {
            "conversionHappenedAt": pd.array([ms(NOW), pd.NA], dtype="Int64"),
            "email": ["i@example.com", "j@example.com"],
        }
    )

    first = push_dataframe(frame, conversion_rule_id=rule_ids["main"], context={})
    second = push_dataframe(epochs, conversion_rule_id=rule_ids["main"], context={})

    assert first["events_sent"] == 2
    assert first["rejections"] == {"missing_timestamp": 2}
    assert second["events_sent"] == 1
    assert second["rejections"] == {"missing_timestamp": 1}
    times = sorted(e["conversionHappenedAt"] for e in linkedin.admin.events())
    assert times == [ms(NOW) - 60_000, ms(NOW), ms(NOW)]


def test_rows_reach_the_builder_as_tuples_in_chunks_never_as_dicts(monkeypatch):
    frame = leads_frame()

    def refuse(*args, **kwargs):
        raise AssertionError("the DataFrame was turned into dicts or Series per row")

    monkeypatch.setattr(pd.DataFrame, "to_dict", refuse)
    monkeypatch.setattr(pd.DataFrame, "iterrows", refuse)
    monkeypatch.setattr(pd.DataFrame, "to_records", refuse)

    rows = table_rows(frame, 4)
    chunks = list(rows.chunks())

    assert rows.columns == list(frame.columns)
    assert [len(chunk) for chunk in chunks] == [4, 2]
    assert all(type(row) is tuple for chunk in chunks for row in chunk)
    assert chunks[0][0][0] == "c1"
    assert isinstance(chunks[0][0][1], pd.Timestamp)

    arrow = table_rows(pa.Table.from_pandas(frame, preserve_index=False), 4)
    assert [len(chunk) for chunk in arrow.chunks()] == [4, 2]


def test_an_empty_frame_follows_on_empty(linkedin, rule_ids):
    empty = leads_frame().iloc[0:0]

    with pytest.raises(AirflowFailException, match=r"no rows \(the dataframe \(pandas DataFrame, 0 rows\)"):
        push_dataframe(empty, conversion_rule_id=rule_ids["main"], on_empty="fail", context={})


def test_anything_but_a_table_is_refused_before_linkedin_is_called(linkedin, rule_ids):
    with pytest.raises(TypeError, match="pandas DataFrame or a pyarrow Table"):
        push_dataframe([{"email": "a@example.com"}], conversion_rule_id=rule_ids["main"], context={})
    op = DataFrameToLinkedInCapiOperator(
        task_id="p", dataframe="not a frame", conversion_rule_id=rule_ids["main"]
    )
    with pytest.raises(AirflowFailException, match="dataframe: Expected a pandas DataFrame"):
        op.execute(context={})
    assert linkedin.admin.events() == []


def test_sql_arguments_are_refused():
    with pytest.raises(
        TypeError, match=r"(?s)Invalid arguments were passed to DataFrameToLinkedInCapiOperator.*sql_conn_id"
    ):
        DataFrameToLinkedInCapiOperator(task_id="p", dataframe=None, sql_conn_id="crm")


def test_a_float64_id_column_that_lost_precision_fails_before_anything_is_sent(linkedin, rule_ids):
    """A 64-bit CRM id column with a NULL becomes float64 in pandas: ids above 2**53 are no longer exact."""
    happened = datetime.now(UTC) - timedelta(hours=1)
    big = 2**60
    frame = pd.DataFrame(
        {
            "crm_id": [float(big), float(big + 1), None],  # the two ids merge as floats
            "email": ["a@example.com", "b@example.com", "c@example.com"],
            "conversionHappenedAt": [happened] * 3,
        }
    )
    assert frame["crm_id"].dtype == "float64"
    with pytest.raises(KeyColumnError, match=r"Row 1 .*not an exact integer below 2\*\*53.*cast the column"):
        push_dataframe(frame, conversion_rule_id=rule_ids["main"], key_columns=["crm_id"], context={})
    assert linkedin.admin.events() == []
    # Cast as the message says, the same ids are exact and every row goes once.
    frame["crm_id"] = pd.array([big, big + 1, None], dtype="Int64")
    summary = push_dataframe(frame, conversion_rule_id=rule_ids["main"], key_columns=["crm_id"], context={})
    assert (summary["events_sent"], summary["duplicate_rows"]) == (3, 0)
