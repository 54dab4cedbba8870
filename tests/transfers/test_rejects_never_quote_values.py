"""The rejects file never holds a row's plaintext name, company, title or IP, whatever LinkedIn quotes.

The sandbox's ``quoting`` poison answers 422 with a message that quotes the refused element's values as
they are, upper-cased, JSON-escaped inside a list, inside escaped JSON, and as ``\\uXXXX`` escapes. The
message may be kept only once none of them can be read in it; otherwise only the code and path remain.
"""

from __future__ import annotations

import json
import re
import sqlite3
import unicodedata
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import example, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from airflow_provider_linkedin_capi.hooks._answers import WITHHELD, scrubbed_message
from airflow_provider_linkedin_capi.transfers.sql_to_linkedin_capi import SqlToLinkedInCapiOperator

PEOPLE = [
    ("Zoë", "Núñez-O'Brien", "Société Générale", 'Directrice "Data"', "198.51.100.23"),
    ("Ada", "Lovelace", "Analytical Engines Ltd", "Countess", "203.0.113.7"),
    ("Jürgen", "Groß", "Müller & Söhne", "Leiter\\Vertrieb", "192.0.2.200"),
]


def _decoded_forms(text: str) -> str:
    """``text`` decoded as a reader might: escapes undone several times over, normalised, case-folded."""
    for _ in range(4):
        text = re.sub(r"\\+u([0-9a-fA-F]{4})", lambda m: chr(int(m.group(1), 16)), text)
        text = re.sub(r"\\+([\"\\/])", r"\1", text)
    return unicodedata.normalize("NFKC", text).casefold()


@pytest.fixture
def people_db(tmp_path, monkeypatch) -> list[str]:
    path = tmp_path / "people.sqlite"
    happened = (datetime.now(UTC) - timedelta(days=1)).strftime("%Y-%m-%d %H:%M:%S")
    with sqlite3.connect(path) as conn:
        conn.execute(
            "CREATE TABLE people (eventId TEXT, email TEXT, firstName TEXT, lastName TEXT, "
            "companyName TEXT, title TEXT, ip_address TEXT, conversionHappenedAt TEXT)"
        )
        conn.executemany(
            "INSERT INTO people VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            [(f"evt-{n}", f"person{n}@example.com", *person, happened) for n, person in enumerate(PEOPLE)],
        )
    monkeypatch.setenv("AIRFLOW_CONN_PEOPLE", json.dumps({"conn_type": "sqlite", "host": str(path)}))
    return [f"evt-{n}" for n in range(len(PEOPLE))]


def _push(linkedin, rejects) -> dict:
    rule_id = str(linkedin.admin.create_rule(name="quoting")["id"])
    return SqlToLinkedInCapiOperator(
        task_id="push",
        sql="SELECT * FROM people",
        sql_conn_id="people",
        conversion_rule_id=rule_id,
        rejects_path=str(rejects),
    ).execute(context={})


def test_values_quoted_in_any_spelling_never_reach_the_rejects_file(linkedin, people_db, tmp_path):
    linkedin.admin.poison(people_db, message_format="quoting")
    rejects = tmp_path / "rejects.jsonl"
    summary = _push(linkedin, rejects)
    assert summary["rejections"] == {"rejected_by_linkedin": len(PEOPLE)}
    text = rejects.read_text(encoding="utf-8")
    lines = [json.loads(line) for line in text.splitlines()]
    assert len(lines) == len(PEOPLE)
    readable = _decoded_forms(text) + _decoded_forms("\n".join(line["message"] for line in lines))
    for person in PEOPLE:
        for value in person:
            assert _decoded_forms(value) not in readable, value
            assert value.casefold() not in text.casefold(), value
    for line in lines:
        assert line["code"] == "rejected_by_linkedin"
        assert line["field"] == "/eventId"
        assert line["message"]


def test_a_message_that_quotes_nothing_is_kept_whole(linkedin, people_db, tmp_path):
    linkedin.admin.poison(people_db, message_format="indexed")
    rejects = tmp_path / "rejects.jsonl"
    _push(linkedin, rejects)
    lines = [json.loads(line) for line in rejects.read_text().splitlines()]
    assert all("poisoned eventId" in line["message"] for line in lines)


def _event(first: str, last: str, company: str, ip: str) -> dict:
    return {
        "eventId": "e1",
        "user": {
            "userIds": [{"idType": "PLAINTEXT_IP_ADDRESS", "idValue": ip}],
            "userInfo": {"firstName": first, "lastName": last, "companyName": company},
        },
    }


SPELLINGS = [
    lambda v: v,
    lambda v: v.upper(),
    lambda v: v.swapcase(),
    lambda v: json.dumps([v]),
    lambda v: json.dumps(json.dumps({"value": v})),
    lambda v: json.dumps(v, ensure_ascii=False),
    lambda v: "".join(f"\\u{ord(c):04x}" for c in v),
    lambda v: "".join(f"\\\\u{ord(c):04X}" for c in v),
    lambda v: unicodedata.normalize("NFD", v),
]


@hypothesis_settings(max_examples=300, deadline=None)
@given(
    st.text(min_size=1, max_size=12).filter(str.strip),
    st.text(min_size=1, max_size=12).filter(str.strip),
    st.sampled_from(range(len(SPELLINGS))),
    st.text(max_size=20),
)
# A name made of an escape character: decoding the scrubbed message consumed it, so it looked gone.
@example(name="\\", company="\\", spelling=3, around="")
def test_no_spelling_of_a_value_survives_the_scrub(name, company, spelling, around):
    event = _event(name, "Last", company, "192.0.2.1")
    message = f"Index: 0, ERROR :: /user :: {around} got {SPELLINGS[spelling](name)} at {company!r}"
    scrubbed = scrubbed_message(message, event)
    readable = _decoded_forms(scrubbed)
    for value in (name, company, "192.0.2.1"):
        assert _decoded_forms(value) not in readable or scrubbed == WITHHELD


def test_a_scrubbed_message_keeps_its_words_and_labels_the_values():
    event = _event("Zoë", "Núñez", "Acme GmbH", "192.0.2.1")
    message = 'Index: 0, ERROR :: /user/userInfo :: invalid "ZOË" and ["N\\u00fa\\u00f1ez"] from 192.0.2.1'
    assert scrubbed_message(message, event) == (
        'Index: 0, ERROR :: /user/userInfo :: invalid "<firstName>" and ["<lastName>"] from '
        "<PLAINTEXT_IP_ADDRESS>"
    )
