"""Where the client secret and the refresh token may be sent: the token endpoint, derived from ``host``.

Airflow's "Test connection" lets a user who cannot read a connection's secrets test it with some fields
changed, and reuses the stored secrets as long as ``host`` and ``port`` are unchanged. An extra that named
the token endpoint freely would let that user send the stored secrets anywhere. So the endpoint is derived
from ``host``: LinkedIn's own for LinkedIn's API host, else the same origin (the sandbox, a proxy). An
explicit ``oauth_url`` is accepted only on that same origin or on LinkedIn's OAuth host; the secrets can then
move only if ``host`` moves, which Airflow guards.
"""

from __future__ import annotations

from urllib.parse import SplitResult, urlsplit

from airflow_provider_linkedin_capi.exceptions import LinkedInCapiConfigError

LINKEDIN_API_HOST = "api.linkedin.com"
LINKEDIN_OAUTH_HOST = "www.linkedin.com"
TOKEN_PATH = "/oauth/v2/accessToken"
LINKEDIN_TOKEN_URL = f"https://{LINKEDIN_OAUTH_HOST}{TOKEN_PATH}"
_DEFAULT_PORTS = {"http": 80, "https": 443}


def token_url_for(
    base_url: str,
    override: str | None = None,
    *,
    where: str = "the LinkedIn connection",
    name: str = "oauth_url",
) -> str:
    """The token endpoint for an API base URL, or ``override`` once it is known to be allowed.

    :param base_url: the connection's API base URL (``host``), e.g. ``https://api.linkedin.com/rest``.
    :param override: the connection's ``oauth_url`` extra, if set.
    :param name: the extra the override came from, for the error message.
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
        f"{where}: extra {name!r} points at {shown}, which is neither the API host ({api.hostname}, same "
        f"scheme and port) nor {LINKEDIN_OAUTH_HOST}; the client secret and refresh token are sent only "
        f"there. Leave {name!r} empty to use the endpoint derived from the host."
    )


def check_api_port(base_url: str, port: int | None, *, where: str = "the LinkedIn connection") -> None:
    """Refuse a ``port`` that differs from the API base URL's own port.

    The URL in ``host`` decides where requests go; ``port`` is only filled so that Airflow 3.3's Test button
    (which posts ``port: 0`` for a connection stored without one) matches the stored connection. A
    different port would be silently ignored, so it is an error instead. ``0`` and empty mean unset.
    """
    api = _split(base_url)
    if not port or api is None:  # an unusable base URL is reported by token_url_for
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
