"""The OAuth refresh both hand-written pushes do before sending: one POST to the sandbox's token endpoint."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import requests


def refresh_access_token(conn: dict[str, Any]) -> str:
    """An access token for ``conn`` (an Airflow connection dict with a refresh token in its extra)."""
    extra = conn.get("extra") or {}
    api = urlsplit(conn["host"])  # the token endpoint lives on the API's origin, as on the provider's hook
    response = requests.post(
        f"{api.scheme}://{api.netloc}/oauth/v2/accessToken",
        data={
            "grant_type": "refresh_token",
            "refresh_token": extra["refresh_token"],
            "client_id": conn["login"],
            "client_secret": conn["password"],
        },
        timeout=30,
    )
    response.raise_for_status()
    return response.json()["access_token"]
