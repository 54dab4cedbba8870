"""Sandbox settings: what the CLI sets at start and ``PUT /_sandbox/config`` may change at run time.

Settings that model UNKNOWN or THIRD-PARTY LinkedIn behaviour live here so that a user can make the
sandbox stricter or looser than the suggested default without editing code.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from datetime import UTC, datetime

REFRESH_ERROR_STYLES = ("invalid_request", "invalid_grant")
STORE_MODES = ("full", "ids")
#: What the consent page does (``sandbox/auth.py``): approve, or the member cancels (§5.13).
CONSENT_ANSWERS = ("approve", "user_cancelled_login", "user_cancelled_authorize")
#: Settings that may be 0 (a token or code that is dead on arrival, for tests of expiry).
_MAY_BE_ZERO = frozenset({"access_token_ttl", "authorization_code_ttl"})


def default_active_versions(now: datetime | None = None) -> tuple[str, ...]:
    """The 12 monthly versions before this month plus this month, without December ones (LinkedIn skips
    YYYY12: 202511 is followed by 202601)."""
    now = now or datetime.now(UTC)
    year, month = now.year, now.month
    versions = []
    for back in range(12, -1, -1):
        y, m = divmod((year * 12 + month - 1) - back, 12)
        if m + 1 != 12:
            versions.append(f"{y:04d}{m + 1:02d}")
    return tuple(versions)


def version_tuple(values: object) -> tuple[str, ...]:
    if isinstance(values, str):
        values = [v for v in values.split(",") if v.strip()]
    if not isinstance(values, list | tuple):
        raise ValueError("active_versions must be a list of YYYYMM strings")
    out = []
    for value in values:
        text = str(value).strip()
        if len(text) != 6 or not text.isdigit():
            raise ValueError(f"active version {text!r} is not YYYYMM")
        out.append(text)
    return tuple(out)


_NON_NEGATIVE_FLOATS = frozenset(
    {
        "callback_lag_seconds",
        "max_event_age_days",
        "future_skew_seconds",
        "latency_ms",
        "latency_us_per_event",
        "latency_jitter_ms",
    }
)


@dataclass
class SandboxConfig:
    """Behaviour switches; every field may be set from ``PUT /_sandbox/config`` except ``store``.

    :param refresh_error_style: ``invalid_request`` (documented) or ``invalid_grant`` (seen in the wild)
        for an invalid, expired or revoked refresh token (THIRD-PARTY: real answers vary).
    :param max_batch_size: elements per BATCH_CREATE; above it a 400 (LinkedIn's behaviour is UNKNOWN).
    :param callback_lag_seconds: delay before ``lastCallbackAt`` shows accepted events (UNKNOWN live).
    :param oracle_moat_id_removed_from: first version rejecting ``ORACLE_MOAT_ID`` (THIRD-PARTY: 202609);
        ``None`` keeps it valid everywhere.
    :param qualified_lead_types_from: first version accepting MARKETING_/SALES_QUALIFIED_LEAD rule types
        (THIRD-PARTY: 202608, contradicted by Segment); ``None`` accepts them on every version.
    :param rules_page_cap: the rule finder returns at most this many rules per page, whatever ``count``
        asks (whether LinkedIn caps pages below the requested count is UNKNOWN); ``None``: no cap.
    :param latency_ms: time LinkedIn takes per events request, before its answer (UNKNOWN live); other
        requests are served meanwhile.
    :param latency_us_per_event: and per event of the request, in microseconds.
    :param latency_jitter_ms: plus a random time, uniform between 0 and this.
    :param authorization_code_ttl: seconds an authorisation code can be exchanged (LinkedIn: 1800).
    :param issue_refresh_tokens: whether a consent's code exchange answers a refresh token, as for apps
        approved for programmatic refresh tokens; ``False`` plays every other app (access token only).
    :param consent: what the authorisation page does: ``approve``, or the member cancels
        (``user_cancelled_login``, ``user_cancelled_authorize``).
    """

    requests_per_minute: int = 600
    requests_per_day: int = 500_000
    active_versions: tuple[str, ...] = field(default_factory=default_active_versions)
    access_token_ttl: int = 5_184_000
    refresh_token_ttl: int = 31_536_000
    refresh_error_style: str = "invalid_request"
    max_batch_size: int = 5000
    callback_lag_seconds: float = 0.0
    max_event_age_days: float = 90.0
    future_skew_seconds: float = 300.0
    oracle_moat_id_removed_from: str | None = None
    qualified_lead_types_from: str | None = None
    max_url_bytes: int = 8192
    max_query_bytes: int = 4096
    rules_page_cap: int | None = None
    latency_ms: float = 0.0
    latency_us_per_event: float = 0.0
    latency_jitter_ms: float = 0.0
    authorization_code_ttl: int = 1800
    issue_refresh_tokens: bool = True
    consent: str = "approve"
    store: str = "full"

    def copy(self) -> SandboxConfig:
        return dataclasses.replace(self)

    def as_dict(self) -> dict:
        data = dataclasses.asdict(self)
        data["active_versions"] = list(self.active_versions)
        return data

    def update(self, changes: dict) -> None:
        """Apply run-time changes, validating each before anything is set."""
        known = {f.name: f for f in dataclasses.fields(self)}
        staged = {}
        for key, value in changes.items():
            if key not in known:
                raise ValueError(f"unknown setting {key!r}; known: {sorted(known)}")
            if key == "store":
                if value != self.store:
                    raise ValueError("store can only be chosen at start (--store)")
                continue
            staged[key] = self._coerce(key, value)
        for key, value in staged.items():
            setattr(self, key, value)

    @staticmethod
    def _coerce(key: str, value: object) -> object:
        if key == "active_versions":
            return version_tuple(value)
        if key == "refresh_error_style":
            if value not in REFRESH_ERROR_STYLES:
                raise ValueError(f"refresh_error_style must be one of {REFRESH_ERROR_STYLES}")
            return value
        if key == "consent":
            if value not in CONSENT_ANSWERS:
                raise ValueError(f"consent must be one of {CONSENT_ANSWERS}")
            return value
        if key == "issue_refresh_tokens":
            if not isinstance(value, bool):
                raise ValueError("issue_refresh_tokens must be true or false")
            return value
        if key == "rules_page_cap" and value is None:
            return None
        if key in ("oracle_moat_id_removed_from", "qualified_lead_types_from"):
            return None if value is None else version_tuple([value])[0]
        if key in _NON_NEGATIVE_FLOATS:
            number = float(value)  # type: ignore[arg-type]
            if not 0 <= number < float("inf"):
                raise ValueError(f"{key} must be >= 0")
            return number
        number = int(value)  # type: ignore[call-overload]
        if number < (0 if key in _MAY_BE_ZERO else 1):
            raise ValueError(f"{key} must be >= {0 if key in _MAY_BE_ZERO else 1}")
        return number
