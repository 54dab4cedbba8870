"""The headers every LinkedIn call carries, in one place for the sync and the async hook.

``X-Restli-Protocol-Version: 2.0.0`` is sent everywhere: without it LinkedIn parses compound keys and
``List(...)`` parameters with Rest.li 1.0 rules (docs/linkedin-contract.md §1.4). ``LinkedIn-Version`` is
never implied by LinkedIn (§1.3), so a missing one is a 400.
"""

from __future__ import annotations

RESTLI_PROTOCOL_VERSION = "2.0.0"


def standard_headers(
    access_token: str,
    api_version: str,
    *,
    restli_method: str | None = None,
    json_body: bool = False,
) -> dict[str, str]:
    headers = {
        "Authorization": f"Bearer {access_token}",
        "LinkedIn-Version": api_version,
        "X-Restli-Protocol-Version": RESTLI_PROTOCOL_VERSION,
        "Accept": "application/json",
    }
    if json_body:
        headers["Content-Type"] = "application/json"
    if restli_method:
        headers["X-RestLi-Method"] = restli_method
    return headers
