"""The connection as the hooks read it: fields and extras, their defaults, checks and the form.

Private to ``hooks/``. A ``linkedin_capi`` connection arrives from Airflow's UI, a URI, JSON or a secrets
backend; :class:`LinkedInCapiConnectionConfig` reads any of them into one checked value, and the settings
(:class:`HookSettings`) resolve each hook argument against its extra and its default. Also here: the secret
scrubbing every message from the token endpoint passes through, where secrets may be sent (the token
endpoint derived from ``host``), the ``LinkedIn-Version`` sunset warning, and the connection form built
from ``get_provider_info()``.
"""

from __future__ import annotations

import json
import logging
import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Protocol, TypedDict, TypeVar
from urllib.parse import SplitResult, quote, quote_plus, urlsplit

import orjson

from airflow_provider_linkedin_capi import api_versions, urns
from airflow_provider_linkedin_capi.constants import (
    AUTO_IN_FLIGHT,
    DEFAULT_API_VERSION,
    DEFAULT_HOST,
    LINKEDIN_OAUTH_HOST,
    MAX_IN_FLIGHT,
    TOKEN_PATH,
)
from airflow_provider_linkedin_capi.exceptions import LinkedInCapiConfigError

# ----------------------------------------------------------------------------------------------------
# Keeping secrets out of error text: refuse unprintable secrets, and blank out echoed ones.
#
# Airflow's log masker replaces registered secrets in log lines, but an exception's text also reaches the
# "Test connection" answer and task notes unmasked, and the masker misses a secret spelled differently (URL-
# or JSON-escaped, or quoted by ``requests`` with a line break inside). So error text built from a server's
# answer is scrubbed here, in every spelling, before it is put into an exception.


MASK = "***"


def has_control_character(text: str) -> bool:
    """Whether ``text`` holds a CR, LF, tab, NUL or any other control character (Unicode category Cc)."""
    return any(unicodedata.category(char) == "Cc" for char in text)


def without_secrets(text: str, secrets: Iterable[str | None]) -> str:
    """``text`` with every secret, as written or URL- or JSON-escaped, replaced by ``***``."""
    spellings = {
        spelling
        for secret in secrets
        if secret
        for spelling in (secret, quote(secret, safe=""), quote_plus(secret), json.dumps(secret)[1:-1])
    }
    # Longest first, so that a secret inside another one's spelling cannot leave a tail behind.
    for spelling in sorted(spellings, key=len, reverse=True):
        text = text.replace(spelling, MASK)
    return text


def scrub(payload: Any, secrets: Iterable[str | None]) -> Any:
    """A decoded JSON answer whose top-level values (the only ones read into messages) hold no secret.

    A nested value is flattened to its scrubbed JSON text, since it could only reach a message as text.
    """
    if not isinstance(payload, Mapping):
        return payload
    secrets = tuple(secret for secret in secrets if secret)
    return {key: _scrubbed(value, secrets) for key, value in payload.items() if isinstance(key, str)}


def _scrubbed(value: Any, secrets: tuple[str, ...]) -> Any:
    if value is None or isinstance(value, bool | int | float):
        return value
    if isinstance(value, str):
        return without_secrets(value, secrets)
    try:
        text = orjson.dumps(value, default=str).decode()
    except orjson.JSONEncodeError:  # nested deeper than orjson writes
        return "(a nested value)"
    return without_secrets(text, secrets)


# ----------------------------------------------------------------------------------------------------
# Where the client secret and the refresh token may be sent: the token endpoint, derived from ``host``.
#
# Airflow's "Test connection" lets a user who cannot read a connection's secrets test it with some fields
# changed, and reuses the stored secrets as long as ``host`` and ``port`` are unchanged. An extra that named
# the token endpoint freely would let that user send the stored secrets anywhere. So the endpoint is derived
# from ``host``: LinkedIn's own for LinkedIn's API host, else the same origin (the sandbox, a proxy). An
# explicit ``oauth_url`` is accepted only on that same origin or on LinkedIn's OAuth host; the secrets can
# then move only if ``host`` moves, which Airflow guards.


LINKEDIN_API_HOST = "api.linkedin.com"
LINKEDIN_TOKEN_URL = f"https://{LINKEDIN_OAUTH_HOST}{TOKEN_PATH}"
_DEFAULT_PORTS = {"http": 80, "https": 443}


def oauth_url_for(
    base_url: str,
    override: str | None = None,
    *,
    where: str = "the LinkedIn connection",
) -> str:
    """The token endpoint for an API base URL, or ``override`` once it is known to be allowed.

    :param base_url: the connection's API base URL (``host``), e.g. ``https://api.linkedin.com/rest``.
    :param override: the connection's ``oauth_url`` extra, if set.
    :raises LinkedInCapiConfigError: the override points anywhere but the API's origin or LinkedIn's
        OAuth host, or the base URL has no host.
    """
    api = _split(base_url)
    if api is None:
        raise LinkedInCapiConfigError(f"{where}: the API base URL (host) must be an http(s) URL with a host")
    if override is None:
        if api.hostname == LINKEDIN_API_HOST:
            return LINKEDIN_TOKEN_URL
        return f"{api.scheme}://{api.netloc.rpartition('@')[2]}{TOKEN_PATH}"
    target = _split(override)
    if target is not None and (_origin(target) == _origin(api) or _is_linkedin_oauth(target)):
        return override
    shown = target.hostname if target is not None else "an unparsable URL"
    raise LinkedInCapiConfigError(
        f"{where}: extra 'oauth_url' points at {shown}, which is neither the API host ({api.hostname}, same "
        f"scheme and port) nor {LINKEDIN_OAUTH_HOST}; the client secret and refresh token are sent only "
        f"there. Leave 'oauth_url' empty to use the endpoint derived from the host."
    )


def check_api_port(base_url: str, port: int | None, *, where: str = "the LinkedIn connection") -> None:
    """Refuse a ``port`` that differs from the API base URL's own port.

    The URL in ``host`` decides where requests go; ``port`` is only filled so that Airflow 3.3's Test button
    (which posts ``port: 0`` for a connection stored without one) matches the stored connection. A
    different port would be silently ignored, so it is an error instead. ``0`` and empty mean unset.
    """
    api = _split(base_url)
    if not port or api is None:  # an unusable base URL is reported by oauth_url_for
        return
    expected = _origin(api)[2]
    if int(port) != expected:
        raise LinkedInCapiConfigError(
            f"{where}: port {port} differs from the port of the API base URL (host {api.hostname}, port "
            f"{expected}); set the port to {expected} or leave it empty"
        )


def _split(url: str) -> SplitResult | None:
    try:
        parts = urlsplit(url.strip())
        parts.port  # noqa: B018 - raises ValueError on a non-numeric or out-of-range port
    except ValueError:
        return None
    if parts.scheme not in _DEFAULT_PORTS or not parts.hostname:
        return None
    return parts


def _origin(parts: SplitResult) -> tuple[str, str, int]:
    return parts.scheme, parts.hostname or "", parts.port or _DEFAULT_PORTS[parts.scheme]


def _is_linkedin_oauth(parts: SplitResult) -> bool:
    return _origin(parts) == ("https", LINKEDIN_OAUTH_HOST, 443)


# ----------------------------------------------------------------------------------------------------
# A warning before LinkedIn stops serving the connection's ``LinkedIn-Version`` (``api_versions``).


def sunset_note(version: str, today: date) -> str:
    """``LinkedIn-Version``'s sunset for a message: the date, how it is known, and how far off it is."""
    return api_versions.sunset_of(version).describe(today)


def warn_if_version_near_sunset(
    version: str, today: date, log: logging.Logger | Any, conn_id: str | None = None
) -> bool:
    """Log a warning when ``version`` is sunset within the warning window (or already is)."""
    if not api_versions.sunset_is_near(version, today):
        return False
    sunset = api_versions.sunset_of(version)
    gone = sunset.days_left(today) < 0
    log.warning(
        "LinkedIn-Version %s %s: %s the 'api_version' extra of connection %r to a newer YYYYMM month, or "
        "upgrade the provider%s.",
        version,
        sunset.describe(today),
        "LinkedIn answers every request with HTTP 426 now; set" if gone else "set",
        conn_id,
        "" if gone else ", before LinkedIn answers every request with HTTP 426",
    )
    return True


# ----------------------------------------------------------------------------------------------------
# The ``linkedin_capi`` connection, read and validated once.
#
# Both hooks (sync for tasks, async for the trigger) read the same fields, so the rules live here and not in
# either hook: plain extra keys first (what the Airflow 3.2+ form and JSON connections store), then the
# ``extra__linkedin_capi__<name>`` keys that connections created in the Airflow 2 UI still carry. Extras
# from a URI connection arrive as strings, so numbers are parsed rather than trusted.
#
# Airflow masks every field whose name holds a sensitive word (``token``, ``secret``, ...) in its UI and API,
# and its form sends the mask back: so only secrets carry such names here, two fields were renamed (the old
# names are still read, with a deprecation warning), and a ``***`` value is refused rather than used.
#
# Nothing here masks secrets: masking is sync in tasks and async in triggers, so each hook does its own.


# The token endpoint for LinkedIn's own host; any other host gets its own origin's (see token_endpoint).
DEFAULT_TOKEN_URL = LINKEDIN_TOKEN_URL
DEFAULT_REQUESTS_PER_MINUTE = 600
# Defaults of the HTTP settings a hook argument or a connection extra can override. Both hooks use these, so
# a deferred sensor retries exactly like a poked one (README "The connection" documents the values).
DEFAULT_TIMEOUT = 60.0
DEFAULT_MAX_RETRIES = 8
DEFAULT_RETRY_MIN_WAIT = 1.0
DEFAULT_RETRY_MAX_WAIT = 60.0
# A freshly minted token can be refused as revoked (401/65601) until it has propagated
# (docs/linkedin-contract.md §7.11, THIRD-PARTY): wait this long once before retrying it.
DEFAULT_PROPAGATION_WAIT = 2.0

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
    oauth_url: str
    api_version: str
    client_id: str | None = None
    client_secret: str | None = field(default=None, repr=False)
    refresh_token: str | None = field(default=None, repr=False)
    access_token: str | None = field(default=None, repr=False)
    ad_account_id: str | None = None
    requests_per_minute: int = DEFAULT_REQUESTS_PER_MINUTE
    #: ``"auto"``, a fixed 1 to 16, or ``None`` (unset: the push's default, ``"auto"``).
    max_in_flight: int | str | None = None
    timeout: float | None = None
    max_retries: int | None = None
    retry_min_wait: float | None = None
    retry_max_wait: float | None = None
    propagation_wait: float | None = None
    #: Overrides of the versions that accept each ``userIds`` type (``api_versions.IDENTIFIER_SPANS``).
    identifier_versions: dict[str, Any] | None = None

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
            value = extras.get(name)
            if isinstance(value, str):
                value = value.strip()
            return None if value in (None, "") else value

        client_id = _text(login)
        client_secret = _text(password)
        refresh_token = _text(extra("refresh_token"))
        access_token = _text(extra("access_token"))
        _check_credentials(where, client_id, client_secret, refresh_token, access_token)
        base_url = _base_url(host, port, schema)
        check_api_port(base_url, port, where=where)
        oauth_url = extra("oauth_url")

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

        identifier_versions = _identifier_versions(where, extra("identifier_versions"))
        numbers = {
            name: _number(where, f"extra {name!r}", extra(name), kind, minimum)
            for name, kind, minimum in _NUMERIC_SETTINGS
        }
        numbers["requests_per_minute"] = numbers["requests_per_minute"] or DEFAULT_REQUESTS_PER_MINUTE
        return cls(
            conn_id=conn_id,
            base_url=base_url,
            oauth_url=oauth_url_for(base_url, None if oauth_url is None else str(oauth_url), where=where),
            api_version=api_version,
            client_id=client_id,
            client_secret=client_secret,
            refresh_token=refresh_token,
            access_token=access_token,
            ad_account_id=account,
            identifier_versions=identifier_versions,
            max_in_flight=_in_flight(where, extra("max_in_flight")),
            **numbers,
        )


def _in_flight(where: str, value: Any) -> int | str | None:
    """The ``max_in_flight`` extra: ``"auto"`` (any case), or a whole number from 1 to 16 (text too)."""
    if isinstance(value, str) and value.lower() == AUTO_IN_FLIGHT:
        return AUTO_IN_FLIGHT
    try:
        return _number(where, "extra 'max_in_flight'", value, int, 1, MAX_IN_FLIGHT)
    except LinkedInCapiConfigError as err:
        raise LinkedInCapiConfigError(f"{err} (or {AUTO_IN_FLIGHT!r})") from None


def _identifier_versions(where: str, value: Any) -> dict[str, Any] | None:
    """The ``identifier_versions`` extra: a JSON object (or its text), idType -> [first, until]."""
    if value is None:
        return None
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            raise LinkedInCapiConfigError(f"{where}: extra 'identifier_versions' is not JSON") from None
    if not isinstance(value, dict):
        raise LinkedInCapiConfigError(
            f"{where}: extra 'identifier_versions' must be an object such as "
            '{"ORACLE_MOAT_ID": [null, "202609"]}'
        )
    try:
        api_versions.identifier_spans(value)
    except ValueError as err:
        raise LinkedInCapiConfigError(f"{where}: extra {err}") from None
    return value


def first_set(explicit: T | None, configured: T | None, default: T) -> T:
    """A setting from the hook's argument, else the connection's extra, else the default; 0 counts as set."""
    if explicit is not None:
        return explicit
    return default if configured is None else configured


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


def _number(
    where: str, label: str, value: Any, kind: type, minimum: float, maximum: float | None = None
) -> Any:
    """An extra's number (text from a URI connection too); ``None`` when unset. nan and inf are refused."""
    if value is None:
        return None
    try:
        number = kind(value)
    except (TypeError, ValueError, OverflowError):
        number = None
    in_range = (
        number is not None and minimum <= number < float("inf") and (maximum is None or number <= maximum)
    )
    if (
        not in_range
        or isinstance(value, bool)
        or (kind is int and isinstance(value, float) and not value.is_integer())
    ):
        limit = f"from {minimum} to {maximum}" if maximum is not None else f">= {minimum}"
        raise LinkedInCapiConfigError(f"{where}: {label} must be a number {limit}, got {value!r}")
    return number


# ----------------------------------------------------------------------------------------------------
# The HTTP settings of a hook: its argument, else the connection's extra of the same name, else a default.
#
# Both hooks resolve them here, so a deferred sensor (async hook, in the triggerer) retries and waits exactly
# like a poked one (sync hook, in a task). README "The connection" documents the extras and defaults.


@dataclass(frozen=True)
class HookSettings:
    """The settings a hook runs with, every one resolved."""

    api_version: str
    timeout: float
    max_retries: int
    retry_min_wait: float
    retry_max_wait: float
    requests_per_minute: int
    propagation_wait: float


class SettingArguments(TypedDict, total=False):
    """The settings both hooks take as keyword arguments; each defaults to the connection's extra.

    :param api_version: ``LinkedIn-Version`` (YYYYMM); default: the ``api_version`` extra, else a pinned,
        currently active month.
    :param timeout: seconds for a whole HTTP call, headers and body (not per read); default: the
        ``timeout`` extra, else 60.
    :param max_retries: retries after a 429, 5xx, timeout or dropped connection; default: the
        ``max_retries`` extra, else 8.
    :param retry_min_wait: first backoff wait in seconds (doubling, with jitter); default: the
        ``retry_min_wait`` extra, else 1.
    :param retry_max_wait: longest backoff wait in seconds; default: the ``retry_max_wait`` extra, else 60.
    :param requests_per_minute: client-side request budget; default: the ``requests_per_minute`` extra,
        else 600 (LinkedIn's figure per token, THIRD-PARTY sourced).
    :param propagation_wait: seconds to wait, once, when LinkedIn refuses a token minted moments ago
        as revoked (THIRD-PARTY sourced behaviour); default: the ``propagation_wait`` extra, else 2.
    """

    api_version: str | None
    timeout: float | None
    max_retries: int | None
    retry_min_wait: float | None
    retry_max_wait: float | None
    requests_per_minute: int | None
    propagation_wait: float | None


#: The hooks' numeric settings: name, type and smallest value, for the extras and the arguments alike.
_NUMERIC_SETTINGS = (
    ("timeout", float, 0.001),
    ("max_retries", int, 0),
    ("retry_min_wait", float, 0),
    ("retry_max_wait", float, 0),
    ("requests_per_minute", int, 1),
    ("propagation_wait", float, 0),
)


@dataclass(frozen=True)
class HookArguments:
    """The settings given to a hook's constructor; ``None`` leaves one to the connection."""

    api_version: str | None = None
    timeout: float | None = None
    max_retries: int | None = None
    retry_min_wait: float | None = None
    retry_max_wait: float | None = None
    requests_per_minute: int | None = None
    propagation_wait: float | None = None

    def __post_init__(self) -> None:
        if self.api_version is not None and not API_VERSION_PATTERN.match(str(self.api_version)):
            raise LinkedInCapiConfigError(
                f"api_version must be YYYYMM (e.g. {DEFAULT_API_VERSION}), got {self.api_version!r}"
            )
        # Each argument is read as its extra is, with the same bounds: inf and nan would hang a sleep or
        # crash it with a raw OverflowError.
        for name, kind, minimum in _NUMERIC_SETTINGS:
            value = getattr(self, name)
            if isinstance(value, str):
                raise LinkedInCapiConfigError(f"the hook's {name} must be a number, got {value!r}")
            _number("the hook's arguments", name, value, kind, minimum)

    def resolve(self, config: LinkedInCapiConnectionConfig) -> HookSettings:
        """These arguments over the connection's extras over the defaults (0 counts as set for waits)."""
        return HookSettings(
            api_version=str(self.api_version) if self.api_version is not None else config.api_version,
            timeout=self.timeout or config.timeout or DEFAULT_TIMEOUT,
            max_retries=first_set(self.max_retries, config.max_retries, DEFAULT_MAX_RETRIES),
            retry_min_wait=first_set(self.retry_min_wait, config.retry_min_wait, DEFAULT_RETRY_MIN_WAIT),
            retry_max_wait=first_set(self.retry_max_wait, config.retry_max_wait, DEFAULT_RETRY_MAX_WAIT),
            requests_per_minute=self.requests_per_minute or config.requests_per_minute,
            propagation_wait=first_set(
                self.propagation_wait, config.propagation_wait, DEFAULT_PROPAGATION_WAIT
            ),
        )


class SettingsProperties:
    """The resolved settings as read-only attributes of a hook (``hook.timeout``, ``hook.max_retries``...).

    A hook provides :attr:`settings`; these properties are written once for both hooks.
    """

    @property
    def settings(self) -> HookSettings:  # pragma: no cover - each hook provides it
        raise NotImplementedError

    @property
    def api_version(self) -> str:
        return self.settings.api_version

    @property
    def timeout(self) -> float:
        return self.settings.timeout

    @property
    def max_retries(self) -> int:
        return self.settings.max_retries

    @property
    def retry_min_wait(self) -> float:
        return self.settings.retry_min_wait

    @property
    def retry_max_wait(self) -> float:
        return self.settings.retry_max_wait

    @property
    def requests_per_minute(self) -> int:
        return self.settings.requests_per_minute

    @property
    def propagation_wait(self) -> float:
        return self.settings.propagation_wait


# ----------------------------------------------------------------------------------------------------
# The connection form for Airflow 3.1, built from what ``get_provider_info()`` declares for 3.2 and later.
#
# Airflow 3.2+ reads the form (``conn-fields`` and ``ui-field-behaviour``) from the provider info and never
# calls the hook's ``get_connection_form_widgets`` / ``get_ui_field_behaviour`` when those are declared.
# Airflow 3.1 reads only the hook's methods: without them its form showed the bare standard fields, no
# labels, no extras. These functions translate the one declaration into the methods' format, so both
# Airflows show the same form from the same source.


def _connection_type() -> dict[str, Any]:
    from airflow_provider_linkedin_capi.get_provider_info import get_provider_info

    (declared,) = get_provider_info()["connection-types"]
    return declared


def ui_field_behaviour() -> dict[str, Any]:
    """``ui-field-behaviour`` in the hook method's keys (``hidden_fields``, not ``hidden-fields``)."""
    behaviour = _connection_type()["ui-field-behaviour"]
    return {
        "hidden_fields": list(behaviour.get("hidden-fields", [])),
        "relabeling": dict(behaviour.get("relabeling", {})),
        "placeholders": dict(behaviour.get("placeholders", {})),
    }


def connection_form_widgets() -> dict[str, Any]:
    """``conn-fields`` as WTForms fields: secrets as password fields, integers as integer fields.

    Numbers with a fraction are text fields (Flask-AppBuilder has no decimal widget); the hook reads every
    extra from text as well.
    """
    from flask_appbuilder.fieldwidgets import BS3PasswordFieldWidget, BS3TextFieldWidget
    from flask_babel import lazy_gettext
    from wtforms import IntegerField, PasswordField, StringField
    from wtforms.validators import Optional

    widgets: dict[str, Any] = {}
    for name, declared in _connection_type()["conn-fields"].items():
        schema = declared.get("schema", {})
        types = schema.get("type", [])
        types = [types] if isinstance(types, str) else types
        if schema.get("format") == "password":
            field_class, widget = PasswordField, BS3PasswordFieldWidget()
        elif "integer" in types:
            field_class, widget = IntegerField, BS3TextFieldWidget()
        else:
            field_class, widget = StringField, BS3TextFieldWidget()
        widgets[name] = field_class(
            lazy_gettext(declared["label"]),
            widget=widget,
            description=declared.get("description", ""),
            default=schema.get("default"),
            validators=[Optional()],
        )
    return widgets
