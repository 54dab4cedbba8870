"""The ``linkedin_capi`` connection, read and validated once.

Both hooks (sync for tasks, async for the trigger) read the same fields, so the rules live here and not in
either hook: plain extra keys first (what the Airflow 3.2+ form and JSON connections store), then the
``extra__linkedin_capi__<name>`` keys that connections created in the Airflow 2 UI still carry. Extras
from a URI connection arrive as strings, so numbers are parsed rather than trusted.

Nothing here masks secrets: masking is sync in tasks and async in triggers, so each hook does its own.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

from airflow_provider_linkedin_capi import urns
from airflow_provider_linkedin_capi.exceptions import LinkedInCapiConfigError

CONN_TYPE = "linkedin_capi"
DEFAULT_HOST = "https://api.linkedin.com/rest"
DEFAULT_TOKEN_URL = "https://www.linkedin.com/oauth/v2/accessToken"
# A month LinkedIn serves for about a year after its release (contract §1.8-1.9); bump it with each release
# of this provider. Users pin their own with the connection's ``api_version`` extra.
DEFAULT_API_VERSION = "202608"
DEFAULT_REQUESTS_PER_MINUTE = 600
# Event batches a push keeps in flight at once. Whether LinkedIn limits concurrent requests per token is
# UNKNOWN; the budget per minute above bounds them anyway. The cap matches the keep-alive connections the
# sync hook pools (16), so that no request has to open a connection of its own.
DEFAULT_MAX_IN_FLIGHT = 4
MAX_IN_FLIGHT = 16
# Defaults of the HTTP settings a hook argument or a connection extra can override. Both hooks use these, so
# a deferred sensor retries exactly like a poked one (README "The connection" documents the values).
DEFAULT_TIMEOUT = 60.0
DEFAULT_MAX_RETRIES = 8
DEFAULT_RETRY_MIN_WAIT = 1.0
DEFAULT_RETRY_MAX_WAIT = 60.0
# A freshly minted token can be refused as revoked (401/65601) until it has propagated (contract
# §7.11, THIRD-PARTY): wait this long once before retrying it.
DEFAULT_TOKEN_PROPAGATION_WAIT = 2.0
_LEGACY_PREFIX = f"extra__{CONN_TYPE}__"
_API_VERSION = re.compile(r"^[0-9]{4}(0[1-9]|1[0-2])$")

T = TypeVar("T")


class _ConnectionLike(Protocol):
    host: str | None
    login: str | None
    password: str | None

    @property
    def extra_dejson(self) -> dict: ...


@dataclass(frozen=True)
class LinkedInCapiConnectionConfig:
    """Everything the hooks need from a ``linkedin_capi`` connection; secrets are kept out of ``repr``."""

    conn_id: str | None
    base_url: str
    token_url: str
    api_version: str
    client_id: str | None = None
    client_secret: str | None = field(default=None, repr=False)
    refresh_token: str | None = field(default=None, repr=False)
    access_token: str | None = field(default=None, repr=False)
    ad_account_id: str | None = None
    requests_per_minute: int = DEFAULT_REQUESTS_PER_MINUTE
    max_in_flight: int | None = None
    timeout: float | None = None
    max_retries: int | None = None
    retry_min_wait: float | None = None
    retry_max_wait: float | None = None
    token_propagation_wait: float | None = None

    @property
    def uses_refresh_token(self) -> bool:
        return self.refresh_token is not None

    @classmethod
    def from_connection(
        cls, conn: _ConnectionLike, *, extra: dict[str, Any] | None = None
    ) -> LinkedInCapiConnectionConfig:
        """Build from an sdk ``Connection`` (or anything with host/login/password/extra_dejson).

        :param extra: the already-decoded extras, for async callers that decoded them with
            ``aextra_dejson`` (the sync ``extra_dejson`` masks with a blocking call).
        """
        extras = conn.extra_dejson if extra is None else extra
        conn_id = getattr(conn, "conn_id", None)
        return cls.from_fields(
            conn_id=conn_id,
            host=conn.host,
            port=getattr(conn, "port", None),
            schema=getattr(conn, "schema", None),
            login=conn.login,
            password=conn.password,
            extras=extras or {},
        )

    @classmethod
    def from_fields(
        cls,
        *,
        conn_id: str | None,
        host: str | None,
        login: str | None,
        password: str | None,
        extras: dict[str, Any],
        port: int | None = None,
        schema: str | None = None,
    ) -> LinkedInCapiConnectionConfig:
        where = f"connection {conn_id!r}" if conn_id else "the LinkedIn connection"

        def extra(name: str) -> Any:
            for key in (name, _LEGACY_PREFIX + name):
                value = extras.get(key)
                if isinstance(value, str):
                    value = value.strip()
                if value not in (None, ""):
                    return value
            return None

        client_id = _text(login)
        client_secret = _text(password)
        refresh_token = _text(extra("refresh_token"))
        access_token = _text(extra("access_token"))
        _check_credentials(where, client_id, client_secret, refresh_token, access_token)

        api_version = str(extra("api_version") or DEFAULT_API_VERSION)
        if not _API_VERSION.match(api_version):
            raise LinkedInCapiConfigError(
                f"{where}: extra 'api_version' must be a LinkedIn-Version month as YYYYMM (e.g. "
                f"{DEFAULT_API_VERSION}), got {api_version!r}"
            )
        account = extra("ad_account_id")
        if account is not None:
            try:
                account = urns.account_id(account)
            except ValueError as err:
                raise LinkedInCapiConfigError(f"{where}: extra 'ad_account_id': {err}") from None

        return cls(
            conn_id=conn_id,
            base_url=_base_url(host, port, schema),
            token_url=str(extra("token_url") or DEFAULT_TOKEN_URL),
            api_version=api_version,
            client_id=client_id,
            client_secret=client_secret,
            refresh_token=refresh_token,
            access_token=access_token,
            ad_account_id=account,
            requests_per_minute=_number(where, "requests_per_minute", extra("requests_per_minute"), int, 1)
            or DEFAULT_REQUESTS_PER_MINUTE,
            max_in_flight=in_flight_limit(extra("max_in_flight"), f"{where}: extra 'max_in_flight'"),
            timeout=_number(where, "timeout", extra("timeout"), float, 0.001),
            max_retries=_number(where, "max_retries", extra("max_retries"), int, 0),
            retry_min_wait=_number(where, "retry_min_wait", extra("retry_min_wait"), float, 0),
            retry_max_wait=_number(where, "retry_max_wait", extra("retry_max_wait"), float, 0),
            token_propagation_wait=_number(
                where, "token_propagation_wait", extra("token_propagation_wait"), float, 0
            ),
        )


def first_set(explicit: T | None, configured: T | None, default: T) -> T:
    """A setting from the hook's argument, else the connection's extra, else the default; 0 counts as set."""
    if explicit is not None:
        return explicit
    return default if configured is None else configured


def in_flight_limit(value: Any, what: str = "max_in_flight") -> int | None:
    """An in-flight limit from a connection extra or an operator argument (text from a template or URI
    included); ``None`` when unset. Raises ``LinkedInCapiConfigError`` (a ``ValueError``) naming ``what``."""
    if value is None or (isinstance(value, str) and value.strip().lower() in {"", "none"}):
        return None
    try:
        number = int(str(value).strip()) if isinstance(value, str) else int(value)
    except (TypeError, ValueError):
        number = None
    if (
        isinstance(value, bool)
        or (isinstance(value, float) and not value.is_integer())
        or number is None
        or not 1 <= number <= MAX_IN_FLIGHT
    ):
        raise LinkedInCapiConfigError(
            f"{what} must be a whole number from 1 to {MAX_IN_FLIGHT}, got {value!r}"
        )
    return number


def _text(value: Any) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def _check_credentials(
    where: str,
    client_id: str | None,
    client_secret: str | None,
    refresh_token: str | None,
    access_token: str | None,
) -> None:
    if refresh_token and access_token:
        raise LinkedInCapiConfigError(
            f"{where}: set either extra 'refresh_token' (with the client id and secret) or extra "
            "'access_token', not both"
        )
    if access_token:
        return
    if not refresh_token:
        raise LinkedInCapiConfigError(
            f"{where} has no credentials: set extra 'refresh_token' together with the Client ID (login) and "
            "Client Secret (password), or a static extra 'access_token'"
        )
    missing = [
        name
        for name, value in (("Client ID (login)", client_id), ("Client Secret (password)", client_secret))
        if not value
    ]
    if missing:
        raise LinkedInCapiConfigError(
            f"{where}: a refresh token needs the app's {' and '.join(missing)}, which is missing"
        )


def _base_url(host: str | None, port: int | None, schema: str | None) -> str:
    """Accept the documented full URL, and the host/port/schema split a hand-written URI produces."""
    text = (host or "").strip()
    if not text:
        return DEFAULT_HOST
    if "://" not in text:
        text = f"https://{text}"
        if port:
            text = f"{text}:{port}"
        if schema:
            text = f"{text}/{schema.strip('/')}"
    return text.rstrip("/")


def _number(where: str, name: str, value: Any, kind: type, minimum: float) -> Any:
    if value is None:
        return None
    try:
        number = kind(value)
    except (TypeError, ValueError):
        number = None
    if number is None or isinstance(value, bool) or number < minimum:
        raise LinkedInCapiConfigError(f"{where}: extra {name!r} must be a number >= {minimum}, got {value!r}")
    return number
