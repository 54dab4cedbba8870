"""The HTTP settings of a hook: its argument, else the connection's extra of the same name, else a default.

Both hooks resolve them here, so a deferred sensor (async hook, in the triggerer) retries and waits exactly
like a poked one (sync hook, in a task). README "The connection" documents the extras and defaults.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypedDict

from airflow_provider_linkedin_capi.hooks.connection_config import (
    API_VERSION_PATTERN,
    DEFAULT_API_VERSION,
    DEFAULT_MAX_RETRIES,
    DEFAULT_RETRY_MAX_WAIT,
    DEFAULT_RETRY_MIN_WAIT,
    DEFAULT_TIMEOUT,
    DEFAULT_TOKEN_PROPAGATION_WAIT,
    LinkedInCapiConnectionConfig,
    first_set,
)


@dataclass(frozen=True)
class HookSettings:
    """The settings a hook runs with, every one resolved."""

    api_version: str
    timeout: float
    max_retries: int
    retry_min_wait: float
    retry_max_wait: float
    requests_per_minute: int
    token_propagation_wait: float


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
    :param token_propagation_wait: seconds to wait, once, when LinkedIn refuses a token minted moments ago
        as revoked (THIRD-PARTY sourced behaviour); default: the ``propagation_wait`` extra, else 2.
    """

    api_version: str | None
    timeout: float | None
    max_retries: int | None
    retry_min_wait: float | None
    retry_max_wait: float | None
    requests_per_minute: int | None
    token_propagation_wait: float | None


@dataclass(frozen=True)
class HookArguments:
    """The settings given to a hook's constructor; ``None`` leaves one to the connection."""

    api_version: str | None = None
    timeout: float | None = None
    max_retries: int | None = None
    retry_min_wait: float | None = None
    retry_max_wait: float | None = None
    requests_per_minute: int | None = None
    token_propagation_wait: float | None = None

    def __post_init__(self) -> None:
        if self.api_version is not None and not API_VERSION_PATTERN.match(str(self.api_version)):
            raise ValueError(
                f"api_version must be YYYYMM (e.g. {DEFAULT_API_VERSION}), got {self.api_version!r}"
            )
        if self.max_retries is not None and self.max_retries < 0:
            raise ValueError(f"max_retries must be >= 0, got {self.max_retries}")

    def resolve(self, config: LinkedInCapiConnectionConfig) -> HookSettings:
        """These arguments over the connection's extras over the defaults (0 counts as set for waits)."""
        return HookSettings(
            api_version=str(self.api_version) if self.api_version is not None else config.api_version,
            timeout=self.timeout or config.timeout or DEFAULT_TIMEOUT,
            max_retries=first_set(self.max_retries, config.max_retries, DEFAULT_MAX_RETRIES),
            retry_min_wait=first_set(self.retry_min_wait, config.retry_min_wait, DEFAULT_RETRY_MIN_WAIT),
            retry_max_wait=first_set(self.retry_max_wait, config.retry_max_wait, DEFAULT_RETRY_MAX_WAIT),
            requests_per_minute=self.requests_per_minute or config.requests_per_minute,
            token_propagation_wait=first_set(
                self.token_propagation_wait, config.token_propagation_wait, DEFAULT_TOKEN_PROPAGATION_WAIT
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
    def token_propagation_wait(self) -> float:
        return self.settings.token_propagation_wait
