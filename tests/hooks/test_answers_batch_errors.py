"""LinkedIn names the culprits of a rejected batch in prose; these are the shapes seen
(docs/linkedin-contract.md §2.3)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from airflow_provider_linkedin_capi.hooks._answers import parse_batch_errors

REQUIRED = "field is required but not found and has no default value"


def test_422_with_several_lines_per_index():
    message = (
        f"Index: 0, ERROR :: /conversionValue/amount :: {REQUIRED}\n"
        f"ERROR :: /user/userInfo/firstName :: {REQUIRED}\n"
        f"Index: 3, ERROR :: /user/userIds :: {REQUIRED}\n"
    )
    assert parse_batch_errors(message) == {
        0: f"ERROR :: /conversionValue/amount :: {REQUIRED}; ERROR :: /user/userInfo/firstName :: {REQUIRED}",
        3: f"ERROR :: /user/userIds :: {REQUIRED}",
    }


def test_repeated_index_lines_are_merged_and_preamble_ignored():
    message = "Validation failed\nIndex: 2, ERROR :: /a :: x\nIndex: 2, ERROR :: /b :: y"
    assert parse_batch_errors(message) == {2: "ERROR :: /a :: x; ERROR :: /b :: y"}


def test_400_indices_form():
    message = (
        "Incorrect conversions information provided. Conversion's method should be CONVERSIONS_API, "
        "indices [0, 3] (0-indexed)"
    )
    reason = "Incorrect conversions information provided. Conversion's method should be CONVERSIONS_API"
    assert parse_batch_errors(message) == {0: reason, 3: reason}


def test_nothing_attributable():
    assert parse_batch_errors("Something went wrong") == {}
    assert parse_batch_errors("") == {}
    assert parse_batch_errors(None) == {}
    assert parse_batch_errors("indices [] (0-indexed)") == {}


_text = st.text(
    alphabet=st.characters(blacklist_categories=("Cs", "Cc", "Zl", "Zp")), min_size=1, max_size=30
)


@given(
    st.dictionaries(
        st.integers(0, 4999),
        st.lists(_text.map(str.strip).filter(bool), min_size=1, max_size=3),
        min_size=1,
        max_size=20,
    )
)
def test_indexed_messages_round_trip(errors):
    lines = []
    for index, texts in errors.items():
        lines.append(f"Index: {index}, ERROR :: /p :: {texts[0]}")
        lines.extend(f"ERROR :: /q :: {text}" for text in texts[1:])
    parsed = parse_batch_errors("\n".join(lines) + "\n")
    assert set(parsed) == set(errors)
    for index, texts in errors.items():
        assert parsed[index].count("ERROR ::") == len(texts)
        assert texts[0] in parsed[index]


# Shapes that made the old parser quadratic (a blank run before an optional separator was rescanned from
# every position), each about 400 KB: far above LinkedIn's real messages, so a quadratic parser would take
# minutes and the timeout marker catches it, while a linear one takes milliseconds.
_HOSTILE_MESSAGES = {
    "blanks": " " * 400_000,
    "tabs_and_commas": ", \t" * 133_000,
    "blank_lines": " \n" * 200_000,
    "unclosed_indices": "indices [" + "1, " * 133_000,
    "repeated_words": "index " * 66_000,
    "index_lines_without_numbers": "Index: \n" * 50_000,
    "long_index_line": "Index: 1, " + " " * 400_000 + "x",
}


@pytest.mark.timeout(10)
@pytest.mark.parametrize("shape", sorted(_HOSTILE_MESSAGES))
def test_parsing_a_large_message_naming_no_element_is_linear(shape):
    message = _HOSTILE_MESSAGES[shape]
    parsed = parse_batch_errors(message)
    if shape == "long_index_line":
        assert parsed == {1: "x"}
    else:
        assert parsed == {}


@pytest.mark.timeout(3)
def test_a_40_kb_message_with_no_index_line_names_no_element():
    message = "Request rejected:" + " " * 40_000 + "see documentation"
    assert parse_batch_errors(message) == {}
