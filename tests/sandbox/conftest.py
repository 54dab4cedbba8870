"""Fixtures: a LinkedIn-like client with a fresh token, and a seeded CAPI rule."""

from __future__ import annotations

import pytest

from .helpers import Api, refresh


@pytest.fixture
def api(sandbox) -> Api:
    response = refresh(sandbox)
    assert response.status_code == 200, response.text
    version = sandbox.admin.config()["active_versions"][-1]
    return Api(sandbox, response.json()["access_token"], version)


@pytest.fixture
def rule_id(sandbox) -> int:
    return sandbox.admin.create_rule(name="CAPI rule", type="PURCHASE")["id"]
