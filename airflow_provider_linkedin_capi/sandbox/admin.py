"""The ``/_sandbox`` admin and inspection API: reset, faults, poison, settings, seeding and read-back.

A rule seeded with ``campaigns`` registers those campaigns in its ad account too, as if they had been
created in Campaign Manager; LinkedIn's own routes link only registered campaigns (``app.py``).

No authentication, never faulted, never rate limited: it is the test harness's side door. Bound to
127.0.0.1 by default for that reason, and every request passes :class:`AdminGuard` first (right Host, no
Origin, JSON bodies only), so that a web page cannot use it.
"""

from __future__ import annotations

import orjson
from fastapi import FastAPI
from starlette.requests import Request
from starlette.responses import Response

from airflow_provider_linkedin_capi.sandbox import AD_ACCOUNT_ID
from airflow_provider_linkedin_capi.sandbox.admin_guard import AdminGuard
from airflow_provider_linkedin_capi.sandbox.faults import FaultSpec
from airflow_provider_linkedin_capi.sandbox.responses import plain_json
from airflow_provider_linkedin_capi.sandbox.state import SandboxState, account_urn, campaign_urn
from airflow_provider_linkedin_capi.sandbox.validation import POISON_MESSAGE_FORMATS


class AdminError(ValueError):
    pass


async def _json_body(request: Request) -> dict:
    raw = await request.body()
    if not raw.strip():
        return {}
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise AdminError("body is not valid JSON") from exc
    if not isinstance(data, dict):
        raise AdminError("body must be a JSON object")
    return data


def _int_param(request: Request, name: str, default: int | None) -> int | None:
    value = request.query_params.get(name)
    if value in (None, ""):
        return default
    try:
        return int(value)
    except ValueError as exc:
        raise AdminError(f"{name} must be an integer") from exc


def _rule_param(request: Request) -> int | None:
    value = request.query_params.get("rule")
    if value in (None, ""):
        return None
    return int(value.rsplit(":", 1)[-1])


class AdminRoutes:
    def __init__(self, state: SandboxState, guard: AdminGuard | None = None) -> None:
        self.state = state
        self.guard = guard or AdminGuard()

    def register(self, app: FastAPI) -> None:
        routes = [
            ("/_sandbox/health", self.health, "GET"),
            ("/_sandbox/reset", self.reset, "POST"),
            ("/_sandbox/faults", self.set_faults, "PUT"),
            ("/_sandbox/faults", self.get_faults, "GET"),
            ("/_sandbox/faults", self.clear_faults, "DELETE"),
            ("/_sandbox/stats", self.stats, "GET"),
            ("/_sandbox/events", self.events, "GET"),
            ("/_sandbox/event-ids", self.event_ids, "GET"),
            ("/_sandbox/rules", self.create_rule, "POST"),
            ("/_sandbox/rules/{rule_id}", self.update_rule, "PATCH"),
            ("/_sandbox/campaigns", self.add_campaigns, "POST"),
            ("/_sandbox/tokens/expire", self.expire_tokens, "POST"),
            ("/_sandbox/tokens/revoke", self.revoke_tokens, "POST"),
            ("/_sandbox/tokens/revoke-refresh", self.revoke_refresh, "POST"),
            ("/_sandbox/poison", self.poison, "PUT"),
            ("/_sandbox/element-failures", self.element_failures, "PUT"),
            ("/_sandbox/config", self.set_config, "PUT"),
            ("/_sandbox/config", self.get_config, "GET"),
        ]
        for path, handler, method in routes:
            app.add_api_route(path, self._guarded(handler), methods=[method])

    def _guarded(self, handler):
        guard = self.guard

        async def endpoint(request: Request) -> Response:
            refusal = guard.refusal(request)
            if refusal is not None:
                return refusal
            try:
                return await handler(request)
            except (AdminError, ValueError, TypeError, KeyError) as exc:
                return plain_json(400, {"error": str(exc)})

        endpoint.__name__ = handler.__name__
        return endpoint

    async def health(self, request: Request) -> Response:
        return plain_json(200, {"status": "ok", "store": self.state.events.mode})

    async def reset(self, request: Request) -> Response:
        self.state.reset()
        return plain_json(200, {"status": "reset"})

    async def set_faults(self, request: Request) -> Response:
        data = await _json_body(request)
        faults = data.get("faults", [])
        if not isinstance(faults, list):
            raise AdminError("faults must be a list")
        specs = [FaultSpec.from_dict(item) for item in faults]
        self.state.faults.replace(specs, data.get("seed"))
        return plain_json(200, {"faults": [spec.as_dict() for spec in specs]})

    async def get_faults(self, request: Request) -> Response:
        return plain_json(200, {"faults": [spec.as_dict() for spec in self.state.faults.specs]})

    async def clear_faults(self, request: Request) -> Response:
        self.state.faults.replace([], None)
        return plain_json(200, {"faults": []})

    async def stats(self, request: Request) -> Response:
        return plain_json(200, self.state.stats())

    async def events(self, request: Request) -> Response:
        offset = _int_param(request, "offset", 0) or 0
        limit = _int_param(request, "limit", None)
        elements, total = self.state.events.events(_rule_param(request), offset, limit)
        return plain_json(200, {"elements": elements, "total": total})

    async def event_ids(self, request: Request) -> Response:
        return plain_json(200, {"event_ids": self.state.events.event_id_counts(_rule_param(request))})

    def _register_seeded_campaigns(self, account: str, data: dict) -> None:
        """Seeding links means the campaigns exist: register them in the rule's account first."""
        campaigns = data.get("campaigns")
        if campaigns:
            if not isinstance(campaigns, list):
                raise AdminError("campaigns must be a list of campaign ids or URNs")
            self.state.add_campaigns(account, [campaign_urn(c) for c in campaigns])

    async def create_rule(self, request: Request) -> Response:
        data = await _json_body(request)
        rule_id = data.pop("id", None)
        if "account" in data:
            data["account"] = account_urn(data["account"])
        self._register_seeded_campaigns(data.get("account") or account_urn(AD_ACCOUNT_ID), data)
        absent = [name for name, value in data.items() if value is None]
        entity = self.state.new_rule(data, rule_id=None if rule_id is None else int(rule_id))
        if absent:  # a field given as null is left out, as LinkedIn leaves out fields it does not set
            self.state.delete_fields(entity["id"], absent)
            entity = self.state.rule_entity(entity["id"])
        return plain_json(201, entity)

    async def update_rule(self, request: Request) -> Response:
        rule_id = int(request.path_params["rule_id"])
        if rule_id not in self.state.rules:
            return plain_json(404, {"error": f"no rule {rule_id}"})
        data = await _json_body(request)
        if "account" in data:
            data["account"] = account_urn(data["account"])
        self._register_seeded_campaigns(data.get("account") or self.state.rules[rule_id]["account"], data)
        absent = [name for name, value in data.items() if value is None]
        self.state.update_rule(rule_id, data, touch=False)
        if absent:
            self.state.delete_fields(rule_id, absent)
        return plain_json(200, self.state.rule_entity(rule_id))

    async def add_campaigns(self, request: Request) -> Response:
        data = await _json_body(request)
        account = account_urn(data["account"])
        campaigns = [campaign_urn(c) for c in data.get("campaigns", [])]
        return plain_json(
            200, {"account": account, "campaigns": self.state.add_campaigns(account, campaigns)}
        )

    async def expire_tokens(self, request: Request) -> Response:
        data = await _json_body(request)
        count = self.state.tokens.expire_all(include_static=bool(data.get("include_static", False)))
        return plain_json(200, {"expired": count})

    async def revoke_tokens(self, request: Request) -> Response:
        data = await _json_body(request)
        count = self.state.tokens.revoke_access(include_static=bool(data.get("include_static", False)))
        return plain_json(200, {"revoked": count})

    async def revoke_refresh(self, request: Request) -> Response:
        self.state.tokens.revoke_refresh_tokens()
        return plain_json(200, {"refresh_token": "revoked"})

    async def poison(self, request: Request) -> Response:
        data = await _json_body(request)
        event_ids = data.get("event_ids", [])
        message_format = data.get("message_format", "indexed")
        if not isinstance(event_ids, list) or message_format not in POISON_MESSAGE_FORMATS:
            raise AdminError(f"event_ids must be a list and message_format one of {POISON_MESSAGE_FORMATS}")
        self.state.poison = frozenset(str(e) for e in event_ids)
        self.state.poison_opaque = message_format == "opaque"
        self.state.poison_quoting = message_format == "quoting"
        return plain_json(200, {"event_ids": len(self.state.poison), "message_format": message_format})

    async def element_failures(self, request: Request) -> Response:
        """Answer the given eventIds with a per-element error status ``times`` times, storing the rest.

        Whether LinkedIn's BATCH_CREATE ever answers 200 with mixed element statuses is UNKNOWN
        (docs/linkedin-contract.md §2.2.2); this lets a client's handling of it be tested.
        """
        data = await _json_body(request)
        event_ids, status, times = data.get("event_ids", []), data.get("status", 503), data.get("times", 1)
        if not isinstance(event_ids, list) or not isinstance(status, int) or not 400 <= status <= 599:
            raise AdminError("event_ids must be a list and status an HTTP error status (400-599)")
        if not isinstance(times, int) or times < 1:
            raise AdminError("times must be an integer >= 1")
        self.state.element_failures = {str(e): [status, times] for e in event_ids}
        return plain_json(200, {"event_ids": len(event_ids), "status": status, "times": times})

    async def set_config(self, request: Request) -> Response:
        self.state.config.update(await _json_body(request))
        return plain_json(200, self.state.config.as_dict())

    async def get_config(self, request: Request) -> Response:
        return plain_json(200, self.state.config.as_dict())
