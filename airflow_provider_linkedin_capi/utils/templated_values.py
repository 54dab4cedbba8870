"""Optional ids as Jinja renders them.

A templated ``None`` (``"{{ params.ad_account_id }}"`` with no value) renders to the string ``"None"``
unless the DAG renders native objects; both must mean "use the connection's default", not an account
literally named "None".
"""

from __future__ import annotations

from airflow_provider_linkedin_capi.urns import account_id

_EMPTY = {"", "none", "null"}


def is_templated(value: object) -> bool:
    """A Jinja template not yet rendered: checks of its value wait until ``execute``."""
    return isinstance(value, str) and ("{{" in value or "{%" in value)


def optional_account_id(value: object) -> str | None:
    """Numeric ad-account id, or None to fall back to the connection's ``ad_account_id``."""
    if value is None or (isinstance(value, str) and value.strip().lower() in _EMPTY):
        return None
    return account_id(value)
