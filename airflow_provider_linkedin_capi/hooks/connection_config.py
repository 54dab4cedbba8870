"""The ``linkedin_capi`` connection, read and validated once.

Both hooks (sync for tasks, async for the trigger) read the same fields, so the rules live here and not in
either hook: plain extra keys first (what the Airflow 3.2+ form and JSON connections store), then the
``extra__linkedin_capi__<name>`` keys that connections created in the Airflow 2 UI still carry. Extras
from a URI connection arrive as strings, so numbers are parsed rather than trusted.

Airflow masks every field whose name holds a sensitive word (``token``, ``secret``, ...) in its UI and API,
and its form sends the mask back: so only secrets carry such names here, two fields were renamed (the old
names are still read, with a deprecation warning), and a ``***`` value is refused rather than used.

Nothing here masks secrets: masking is sync in tasks and async in triggers, so each hook does its own.
"""

from __future__ import annotations

import logging
import re
import warnings
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

from airflow_provider_linkedin_capi import urns
from airflow_provider_linkedin_capi.exceptions import LinkedInCapiConfigError
from airflow_provider_linkedin_capi.hooks.secret_text import MASK, has_control_character
from airflow_provider_linkedin_capi.hooks.token_endpoint import (
    LINKEDIN_TOKEN_URL,
    check_api_port,
    token_url_for,
)

CONN_TYPE = "linkedin_capi"
DEFAULT_HOST = "https://api.linkedin.com/rest"
# The token endpoint for LinkedIn's own host; any other host gets its own origin's (see token_endpoint).
DEFAULT_TOKEN_URL = LINKEDIN_TOKEN_URL
# A month LinkedIn serves for about a year after its release (docs/linkedin-contract.md §1.8-1.9); bump it
# with each release of this provider. Users pin their own with the connection's ``api_version`` extra.
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
# A freshly minted token can be refused as revoked (401/65601) until it has propagated
# (docs/linkedin-contract.md §7.11, THIRD-PARTY): wait this long once before retrying it.
DEFAULT_TOKEN_PROPAGATION_WAIT = 2.0
_LEGACY_PREFIX = f"extra__{CONN_TYPE}__"
# Extras renamed because Airflow masked them (their names hold "token"): new name -> old name.
RENAMED_EXTRAS = {"oauth_url": "token_url", "propagation_wait": "token_propagation_wait"}

log = logging.getLogger(__name__)
#: ``LinkedIn-Version`` is a month, YYYYMM.
API_VERSION_PATTERN = re.compile(r"^[0-9]{4}(0[1-9]|1[0-2])$")

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
    def secrets(self) -> tuple[str | None, ...]:
        """What must never appear in error text: the client secret and both tokens."""
        return self.client_secret, self.refresh_token, self.access_token

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
        _refuse_masked_values(where, password, extras)

        def extra(name: str) -> Any:
            for key in (name, _LEGACY_PREFIX + name):
                value = extras.get(key)
                if isinstance(value, str):
                    value = value.strip()
                if value not in (None, ""):
                    return value
            return None

        def renamed_extra(name: str) -> tuple[Any, str]:
            """The extra under its new name, else under its old one (warned about); with the name used."""
            old_name = RENAMED_EXTRAS[name]
            value, old_value = extra(name), extra(old_name)
            if old_value is not None:
                _warn_renamed(where, old_name, name, ignored=value is not None)
            return (value, name) if value is not None or old_value is None else (old_value, old_name)

        client_id = _text(login)
        client_secret = _text(password)
        refresh_token = _text(extra("refresh_token"))
        access_token = _text(extra("access_token"))
        _check_credentials(where, client_id, client_secret, refresh_token, access_token)
        base_url = _base_url(host, port, schema)
        check_api_port(base_url, port, where=where)
        oauth_url, oauth_url_name = renamed_extra("oauth_url")
        propagation_wait, propagation_wait_name = renamed_extra("propagation_wait")

        api_version = str(extra("api_version") or DEFAULT_API_VERSION)
        if not API_VERSION_PATTERN.match(api_version):
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
            base_url=base_url,
            token_url=token_url_for(
                base_url, None if oauth_url is None else str(oauth_url), where=where, name=oauth_url_name
            ),
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
            token_propagation_wait=_number(where, propagation_wait_name, propagation_wait, float, 0),
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
    for label, value in (
        ("Client Secret (password)", client_secret),
        ("extra 'refresh_token'", refresh_token),
        ("extra 'access_token'", access_token),
    ):
        if value and has_control_character(value):
            # The value is not quoted: it is a secret, and the masker would miss it with a line break inside.
            raise LinkedInCapiConfigError(
                f"{where}: {label} contains a line break or another control character; paste it again "
                "without one"
            )
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


def _refuse_masked_values(where: str, password: str | None, extras: dict[str, Any]) -> None:
    """A ``***`` is Airflow's mask, sent back by its form: never a real value, and never to be used as one."""
    masked = [f"extra {key!r}" for key, value in extras.items() if _is_mask(value)]
    if _is_mask(password):
        masked.insert(0, "Client Secret (password)")
    if masked:
        raise LinkedInCapiConfigError(
            f"{where}: {', '.join(masked)} holds {MASK!r}, Airflow's mask: the connection was saved from a "
            "masked form. Enter the real value, or clear the field to use its default."
        )


def _is_mask(value: Any) -> bool:
    return isinstance(value, str) and value.strip() == MASK


def _warn_renamed(where: str, old_name: str, new_name: str, *, ignored: bool) -> None:
    fate = f"ignored, since {new_name!r} is set" if ignored else f"read as {new_name!r} for now"
    message = (
        f"{where}: extra {old_name!r} is deprecated and {fate}; rename it to {new_name!r} (Airflow masks "
        "extras whose name holds 'token' in its UI, and its form then saves the mask)"
    )
    warnings.warn(message, DeprecationWarning, stacklevel=4)
    log.warning("%s", message)


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
