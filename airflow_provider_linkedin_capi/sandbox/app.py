"""The LinkedIn routes: OAuth consent page and token endpoint, /rest/conversionEvents, /rest/conversions and
/rest/campaignConversions, behind the gateway checks LinkedIn applies in this order: token (401),
version header (400), active version (426), permissions (403), throttle (429), protocol (400).

A rule is linked only to campaigns registered in its ad account (``POST /_sandbox/campaigns``): a link to
any other campaign is answered 400 naming it. What LinkedIn answers there is UNKNOWN
(docs/linkedin-contract.md §4.12); 400 is the sandbox's choice.

Bodies are read as bytes and parsed with orjson (no pydantic) so that a 5,000-event batch costs a few
milliseconds. Rest.li keys and lists are parsed from the raw URL (see ``restli.py``).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from urllib.parse import unquote

import orjson
from fastapi import FastAPI
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import HTMLResponse, Response

from airflow_provider_linkedin_capi.sandbox.admin_guard import AdminGuard
from airflow_provider_linkedin_capi.sandbox.auth import (
    UNAUTHORIZED_BODIES,
    authorization_endpoint,
    introspect_endpoint,
    token_endpoint,
)
from airflow_provider_linkedin_capi.sandbox.config import SandboxConfig
from airflow_provider_linkedin_capi.sandbox.faults import FaultInjectionMiddleware
from airflow_provider_linkedin_capi.sandbox.latency import request_latency
from airflow_provider_linkedin_capi.sandbox.ratelimit import THROTTLED_BODY
from airflow_provider_linkedin_capi.sandbox.responses import li_error, li_response, plain_json
from airflow_provider_linkedin_capi.sandbox.restli import (
    ACCOUNT_PREFIX,
    CONVERSION_PREFIX,
    RestliSyntaxError,
    association_key,
    decode_value,
    is_urn,
    parse_list,
    reject_double_encoding,
    split_query,
    urn_id,
)
from airflow_provider_linkedin_capi.sandbox.state import RULE_DEFAULTS, SandboxState, now_ms
from airflow_provider_linkedin_capi.sandbox.tunneling import QueryTunnelingMiddleware
from airflow_provider_linkedin_capi.sandbox.validation import (
    REQUIRED,
    RULE_READ_ONLY,
    allowed_id_types,
    check_events,
    rule_problem,
)

ASSOCIATIONS_PATH = "/rest/campaignConversions"
MAX_RULES_PER_BATCH = 100
MAX_PAGE = 100


@dataclass
class Gate:
    version: str
    protocol: str
    refusal: Response | None = None


def _version_label(version: str) -> str:
    return f"{version}01" if len(version) == 6 and version.isdigit() else version


def gate(request: Request, state: SandboxState, resource: str, method: str, *, restli2: bool = False) -> Gate:
    """LinkedIn's gateway checks; ``Gate.refusal`` is set when the request must not reach the resource."""
    protocol_header = request.headers.get("x-restli-protocol-version")
    protocol = protocol_header or "1.0.0"
    problem, token, entry = state.tokens.check(request.headers.get("authorization"))
    if problem != "ok":
        return Gate("", protocol, li_response(401, UNAUTHORIZED_BODIES[problem], protocol=protocol))
    version = (request.headers.get("linkedin-version") or "").strip()
    if not version:
        body = {
            "status": 400,
            "code": "VERSION_MISSING",
            "message": "A version must be present. "
            "Please specify a version by adding the Linkedin-Version header.",
        }
        return Gate("", protocol, li_response(400, body, protocol=protocol))
    config = state.config
    if version not in config.active_versions:
        body = {
            "status": 426,
            "code": "NONEXISTENT_VERSION",
            "message": f"Requested version {_version_label(version)} is not active",
        }
        return Gate(version, protocol, li_response(426, body, protocol=protocol))
    if entry is not None and entry.kind == "2L":
        body = {
            "status": 403,
            "serviceErrorCode": 100,
            "code": "ACCESS_DENIED",
            "message": f"Not enough permissions to access: {resource}.{method}.{_version_label(version)}",
        }
        return Gate(version, protocol, li_response(403, body, protocol=protocol))
    assert token is not None
    if not state.limiter.allow(token, config.requests_per_minute, config.requests_per_day):
        return Gate(version, protocol, li_response(429, THROTTLED_BODY, protocol=protocol))
    if restli2 and protocol_header != "2.0.0":
        return Gate(
            version,
            protocol,
            li_error(
                400,
                "Rest.li protocol 2.0.0 is required for compound keys and List(...) parameters; "
                "send X-Restli-Protocol-Version: 2.0.0",
                protocol=protocol,
            ),
        )
    return Gate(version, protocol)


def _load_json(body: bytes) -> object:
    if not body.strip():
        return None
    return orjson.loads(body)


def _restli_method(request: Request) -> str:
    return (request.headers.get("x-restli-method") or "").strip().upper()


class LinkedInRoutes:
    def __init__(self, state: SandboxState) -> None:
        self.state = state

    # -- OAuth -------------------------------------------------------------------------------------------

    async def access_token(self, request: Request) -> Response:
        config = self.state.config
        status, body = token_endpoint(
            self.state.tokens,
            content_type=request.headers.get("content-type", ""),
            body=await request.body(),
            access_ttl=config.access_token_ttl,
            refresh_ttl=config.refresh_token_ttl,
            error_style=config.refresh_error_style,
            code_ttl=config.authorization_code_ttl,
            issue_refresh_tokens=config.issue_refresh_tokens,
        )
        return plain_json(status, body)

    async def authorization(self, request: Request) -> Response:
        """LinkedIn's consent page, for a member who is signed in and approves at once (or cancels)."""
        answer = authorization_endpoint(
            self.state.tokens,
            query=request.scope["query_string"].decode("latin-1"),
            consent=self.state.config.consent,
        )
        if answer.location is not None:
            return Response(status_code=answer.status, headers={"Location": answer.location})
        return HTMLResponse(answer.page or "", status_code=answer.status)

    async def introspect_token(self, request: Request) -> Response:
        status, body = introspect_endpoint(
            self.state.tokens, content_type=request.headers.get("content-type", ""), body=await request.body()
        )
        return plain_json(status, body)

    # -- conversionEvents ------------------------------------------------------------------------------------

    async def conversion_events(self, request: Request) -> Response:
        with self.state.events_in_flight.track():
            return await self._conversion_events(request)

    async def _conversion_events(self, request: Request) -> Response:
        method = _restli_method(request) or "CREATE"
        g = gate(request, self.state, "conversionEvents", method)
        if g.refusal is not None:
            return g.refusal
        if method not in ("CREATE", "BATCH_CREATE"):
            return li_error(
                400, f"Unsupported X-RestLi-Method {method[:40]} on conversionEvents", protocol=g.protocol
            )
        try:
            data = _load_json(await request.body())
        except orjson.JSONDecodeError:
            return li_error(400, "Request body is not valid JSON", protocol=g.protocol)
        config = self.state.config
        batch = method == "BATCH_CREATE"
        if batch:
            if not isinstance(data, dict) or not isinstance(data.get("elements"), list):
                return li_error(400, 'BATCH_CREATE body must be {"elements": [...]}', protocol=g.protocol)
            elements = data["elements"]
            if len(elements) > config.max_batch_size:
                self.state.counters["batches_rejected"] += 1
                return li_error(
                    400,
                    f"Too many elements in BATCH_CREATE: {len(elements)} > maximum of "
                    f"{config.max_batch_size}",
                    protocol=g.protocol,
                )
        else:
            if data is None:
                return li_error(400, "Request body is empty", protocol=g.protocol)
            elements = [data]
        delay = request_latency(
            config.latency_ms,
            config.latency_us_per_event,
            config.latency_jitter_ms,
            len(elements),
            self.state.latency_rng,
        )
        if delay > 0:
            await asyncio.sleep(delay)  # LinkedIn's own time; other requests are served meanwhile
        verdict = check_events(
            elements,
            batch=batch,
            id_types=allowed_id_types(g.version, config.oracle_moat_id_removed_from),
            poison=self.state.poison,
            opaque=self.state.poison_opaque,
            quoting=self.state.poison_quoting,
            rule_ok=self.state.rule_accepts_events,
            now_ms=now_ms(),
            max_age_days=config.max_event_age_days,
            future_skew_seconds=config.future_skew_seconds,
        )
        if verdict is not None:
            self.state.counters["batches_rejected"] += 1
            return li_response(verdict.status, verdict.body, protocol=g.protocol)
        if batch and self.state.element_failures:
            return self._mixed_batch_answer(elements, g.protocol)
        self.state.store_events(elements)
        self.state.counters["batches_accepted"] += 1
        if not batch:
            return li_response(201, protocol=g.protocol)
        body = b'{"elements":[' + b",".join([b'{"status":201}'] * len(elements)) + b"]}"
        return li_response(200, body, protocol=g.protocol)

    def _mixed_batch_answer(self, elements: list, protocol: str) -> Response:
        """A 200 whose elements carry their own statuses: failing ones are not stored (see admin)."""
        answers: list[dict] = []
        stored: list = []
        for element in elements:
            failure = self.state.element_failures.get(str(element.get("eventId")))
            if failure is not None and failure[1] > 0:
                failure[1] -= 1
                message = f"Element failed with status {failure[0]} (sandbox element failure)"
                answers.append({"status": failure[0], "error": {"status": failure[0], "message": message}})
                self.state.counters["elements_failed"] += 1
            else:
                answers.append({"status": 201})
                stored.append(element)
        if stored:
            self.state.store_events(stored)
        self.state.counters["batches_accepted"] += 1
        return li_response(200, {"elements": answers}, protocol=protocol)

    # -- conversions (rules) -------------------------------------------------------------------------------

    def _rule_fields(self, data: object, version: str) -> tuple[dict | None, tuple[int, str] | None]:
        if not isinstance(data, dict):
            return None, (400, "Request body must be a JSON object")
        missing = [name for name in ("name", "account", "type") if data.get(name) is None]
        if missing:
            return None, (422, "".join(f"ERROR :: /{name} :: {REQUIRED}\n" for name in missing))
        read_only = sorted(RULE_READ_ONLY & set(data))
        if read_only:
            return None, (400, f"Read-only fields cannot be set: {', '.join(read_only)}")
        fields = {**RULE_DEFAULTS, "campaigns": [], **data}
        problem = rule_problem(fields, version, self.state.config.qualified_lead_types_from)
        if problem:
            return None, (400, problem)
        problem = self._unknown_campaign(fields["account"], fields["campaigns"])
        if problem:
            return None, (400, problem)
        return fields, None

    def _unknown_campaign(self, account: object, campaigns: list) -> str | None:
        """The refusal for linking a campaign that is not registered in the rule's ad account, if any.

        LinkedIn's answer is UNKNOWN (docs/linkedin-contract.md §4.12); the sandbox's is a 400 naming the
        first such campaign and the account.
        """
        known = set(self.state.campaigns.get(str(account), ()))
        for campaign in campaigns:
            if campaign not in known:
                return f"Campaign {str(campaign)[:80]} does not exist in ad account {account}"
        return None

    def _auto_associate(self, rule: dict, auto: str) -> None:
        if auto in ("ALL_CAMPAIGNS", "OBJECTIVE_BASED"):
            for campaign in self.state.campaigns.get(rule["account"], []):
                self.state.link(rule["id"], campaign)

    async def rules_post(self, request: Request) -> Response:
        method = _restli_method(request) or "CREATE"
        g = gate(request, self.state, "conversions", method)
        if g.refusal is not None:
            return g.refusal
        params = split_query(request.scope["query_string"])
        auto = params.get("autoAssociationType", "NONE")
        if auto not in ("ALL_CAMPAIGNS", "OBJECTIVE_BASED", "NONE"):
            return li_error(
                400, "autoAssociationType must be ALL_CAMPAIGNS, OBJECTIVE_BASED or NONE", protocol=g.protocol
            )
        try:
            data = _load_json(await request.body())
        except orjson.JSONDecodeError:
            return li_error(400, "Request body is not valid JSON", protocol=g.protocol)
        if method == "BATCH_CREATE":
            return self._rules_batch_create(data, g, auto)
        if method != "CREATE":
            return li_error(
                400, f"Unsupported X-RestLi-Method {method[:40]} on conversions", protocol=g.protocol
            )
        fields, problem = self._rule_fields(data, g.version)
        if problem is not None:
            return li_error(problem[0], problem[1], protocol=g.protocol)
        assert fields is not None
        entity = self.state.new_rule(fields)
        self._auto_associate(entity, auto)
        entity = self.state.rule_entity(entity["id"])
        headers = {"x-restli-id": str(entity["id"]), "Location": f"/conversions/{entity['id']}"}
        return li_response(201, entity, protocol=g.protocol, headers=headers)

    def _rules_batch_create(self, data: object, g: Gate, auto: str) -> Response:
        if not isinstance(data, dict) or not isinstance(data.get("elements"), list):
            return li_error(400, 'BATCH_CREATE body must be {"elements": [...]}', protocol=g.protocol)
        if len(data["elements"]) > MAX_RULES_PER_BATCH:
            return li_error(400, f"At most {MAX_RULES_PER_BATCH} rules per BATCH_CREATE", protocol=g.protocol)
        results = []
        for el in data["elements"]:
            fields, problem = self._rule_fields(el, g.version)
            if problem is not None:
                results.append({"status": problem[0], "error": {"message": problem[1], "status": problem[0]}})
                continue
            assert fields is not None
            entity = self.state.new_rule(fields)
            self._auto_associate(entity, auto)
            results.append({"status": 201, "id": entity["id"]})
        return li_response(200, {"elements": results}, protocol=g.protocol)

    def _lookup_rule(self, request: Request, g: Gate) -> tuple[int | None, Response | None]:
        raw_id = request.path_params["rule_id"]
        if not raw_id.isdigit():
            return None, li_error(400, "Conversion id must be numeric", protocol=g.protocol)
        rule_id = int(raw_id)
        params = split_query(request.scope["query_string"])
        account = params.get("account")
        rule = self.state.rules.get(rule_id)
        if account is not None:
            try:
                reject_double_encoding(account, "account")
            except RestliSyntaxError as exc:
                return None, li_error(400, str(exc), protocol=g.protocol)
            account = unquote(account)
        if rule is None or (account is not None and rule.get("account") != account):
            return None, li_error(404, f"Conversion {rule_id} not found", protocol=g.protocol)
        return rule_id, None

    async def rule_get(self, request: Request) -> Response:
        g = gate(request, self.state, "conversions", "GET")
        if g.refusal is not None:
            return g.refusal
        rule_id, refusal = self._lookup_rule(request, g)
        if refusal is not None:
            return refusal
        assert rule_id is not None
        return li_response(200, self.state.rule_entity(rule_id), protocol=g.protocol)

    async def rule_partial_update(self, request: Request) -> Response:
        method = _restli_method(request) or "PARTIAL_UPDATE"
        g = gate(request, self.state, "conversions", method)
        if g.refusal is not None:
            return g.refusal
        if method != "PARTIAL_UPDATE":
            return li_error(
                400, f"Unsupported X-RestLi-Method {method[:40]} on a conversion", protocol=g.protocol
            )
        rule_id, refusal = self._lookup_rule(request, g)
        if refusal is not None:
            return refusal
        assert rule_id is not None
        try:
            data = _load_json(await request.body())
        except orjson.JSONDecodeError:
            return li_error(400, "Request body is not valid JSON", protocol=g.protocol)
        patch = data.get("patch") if isinstance(data, dict) else None
        if not isinstance(patch, dict) or set(patch) - {"$set", "$delete"}:
            return li_error(
                400, 'PARTIAL_UPDATE body must be {"patch": {"$set": {...}}}', protocol=g.protocol
            )
        changes = patch.get("$set", {})
        deletes = patch.get("$delete", [])
        if not isinstance(changes, dict) or not isinstance(deletes, list):
            return li_error(400, "$set must be an object and $delete a list", protocol=g.protocol)
        if "account" in changes or "account" in deletes:
            return li_error(
                400, "The ad account of a conversion rule cannot be changed (/account)", protocol=g.protocol
            )
        read_only = sorted(RULE_READ_ONLY & (set(changes) | set(deletes)))
        if read_only:
            return li_error(
                400, f"Read-only fields cannot be patched: {', '.join(read_only)}", protocol=g.protocol
            )
        merged = {**self.state.rule_entity(rule_id), **changes}
        for name in deletes:
            merged.pop(name, None)
        problem = rule_problem(merged, g.version, self.state.config.qualified_lead_types_from)
        if problem:
            return li_error(400, problem, protocol=g.protocol)
        if "campaigns" in changes:
            bad = [c for c in changes["campaigns"] if not is_urn(c, "urn:li:sponsoredCampaign:")]
            if bad:
                return li_error(
                    400, "campaigns must be urn:li:sponsoredCampaign:<id> URNs", protocol=g.protocol
                )
            unknown = self._unknown_campaign(merged.get("account"), changes["campaigns"])
            if unknown:
                return li_error(400, unknown, protocol=g.protocol)
        self.state.update_rule(rule_id, changes)
        if deletes:
            self.state.delete_fields(rule_id, [str(name) for name in deletes])
        return li_response(204, protocol=g.protocol)

    async def rules_find(self, request: Request) -> Response:
        g = gate(request, self.state, "conversions", "FINDER")
        if g.refusal is not None:
            return g.refusal
        params = split_query(request.scope["query_string"])
        if params.get("q") != "account":
            return li_error(400, "Only the finder q=account is supported on conversions", protocol=g.protocol)
        raw_account = params.get("account")
        if not raw_account:
            return li_error(400, "Finder q=account requires the account parameter", protocol=g.protocol)
        try:
            reject_double_encoding(raw_account, "account")
        except RestliSyntaxError as exc:
            return li_error(400, str(exc), protocol=g.protocol)
        account = unquote(raw_account)
        if not is_urn(account, ACCOUNT_PREFIX):
            return li_error(400, "account must be urn:li:sponsoredAccount:<id>", protocol=g.protocol)
        paging, problem = _paging(params)
        if problem:
            return li_error(400, problem, protocol=g.protocol)
        start, count = paging
        if self.state.config.rules_page_cap is not None:
            count = min(count, self.state.config.rules_page_cap)
        ids = sorted(rid for rid, rule in self.state.rules.items() if rule.get("account") == account)
        elements = [self.state.rule_entity(rid) for rid in ids[start : start + count]]
        fields = params.get("fields")
        if fields:
            wanted = set(fields.replace("%2C", ",").split(","))
            elements = [{k: v for k, v in el.items() if k in wanted} for el in elements]
        body = {"paging": {"start": start, "count": count, "links": [], "total": -1}, "elements": elements}
        return li_response(200, body, protocol=g.protocol)

    # -- campaignConversions --------------------------------------------------------------------------------

    def _raw_key(self, request: Request) -> str:
        raw_path = request.scope.get("raw_path") or request.scope["path"].encode()
        return raw_path.decode("latin-1")[len(ASSOCIATIONS_PATH) + 1 :]

    def _link_target(self, raw_key: str, g: Gate) -> tuple[tuple[str, int] | None, Response | None]:
        try:
            campaign, conversion = association_key(raw_key)
        except RestliSyntaxError as exc:
            return None, li_error(400, str(exc), protocol=g.protocol)
        return (campaign, urn_id(conversion, CONVERSION_PREFIX)), None

    async def association_put(self, request: Request) -> Response:
        g = gate(request, self.state, "campaignConversions", "UPDATE", restli2=True)
        if g.refusal is not None:
            return g.refusal
        target, refusal = self._link_target(self._raw_key(request), g)
        if refusal is not None:
            return refusal
        assert target is not None
        campaign, rule_id = target
        try:
            data = _load_json(await request.body())
        except orjson.JSONDecodeError:
            return li_error(400, "Request body is not valid JSON", protocol=g.protocol)
        if data is not None:
            problem = _entity_mismatch(data, campaign, rule_id)
            if problem:
                return li_error(400, problem, protocol=g.protocol)
        if rule_id not in self.state.rules:
            return li_error(404, f"Conversion {rule_id} not found", protocol=g.protocol)
        unknown = self._unknown_campaign(self.state.rules[rule_id].get("account"), [campaign])
        if unknown:
            return li_error(400, unknown, protocol=g.protocol)
        self.state.link(rule_id, campaign)
        return li_response(204, protocol=g.protocol)

    async def association_get(self, request: Request) -> Response:
        g = gate(request, self.state, "campaignConversions", "GET", restli2=True)
        if g.refusal is not None:
            return g.refusal
        target, refusal = self._link_target(self._raw_key(request), g)
        if refusal is not None:
            return refusal
        assert target is not None
        campaign, rule_id = target
        at = self.state.links.get(rule_id, {}).get(campaign)
        if at is None:
            return li_error(404, "No association between this campaign and conversion", protocol=g.protocol)
        body = {"associatedAt": at, "campaign": campaign, "conversion": f"{CONVERSION_PREFIX}{rule_id}"}
        return li_response(200, body, protocol=g.protocol)

    async def association_delete(self, request: Request) -> Response:
        g = gate(request, self.state, "campaignConversions", "DELETE", restli2=True)
        if g.refusal is not None:
            return g.refusal
        target, refusal = self._link_target(self._raw_key(request), g)
        if refusal is not None:
            return refusal
        assert target is not None
        campaign, rule_id = target
        if not self.state.unlink(rule_id, campaign):
            return li_error(404, "No association between this campaign and conversion", protocol=g.protocol)
        return li_response(204, protocol=g.protocol)

    async def associations_batch_put(self, request: Request) -> Response:
        g = gate(request, self.state, "campaignConversions", "BATCH_UPDATE", restli2=True)
        if g.refusal is not None:
            return g.refusal
        method = _restli_method(request)
        if method and method != "BATCH_UPDATE":
            return li_error(400, f"Unsupported X-RestLi-Method {method[:40]} here", protocol=g.protocol)
        params = split_query(request.scope["query_string"])
        if "ids" not in params:
            return li_error(400, "Batch update requires ids=List(...)", protocol=g.protocol)
        try:
            url_keys = {association_key(item) for item in parse_list(params["ids"], "ids")}
            data = _load_json(await request.body())
            entities = data.get("entities") if isinstance(data, dict) else None
            if not isinstance(entities, dict):
                raise RestliSyntaxError('BATCH_UPDATE body must be {"entities": {key: entity}}')
            body_keys = {key: association_key(key) for key in entities}
        except RestliSyntaxError as exc:
            return li_error(400, str(exc), protocol=g.protocol)
        except orjson.JSONDecodeError:
            return li_error(400, "Request body is not valid JSON", protocol=g.protocol)
        if set(body_keys.values()) != url_keys or len(body_keys) != len(url_keys):
            return li_error(
                400, "The keys in ids=List(...) and in the body's entities differ", protocol=g.protocol
            )
        results, errors = {}, {}
        for key, (campaign, conversion) in body_keys.items():
            rule_id = urn_id(conversion, CONVERSION_PREFIX)
            problem = _entity_mismatch(entities[key], campaign, rule_id)
            if problem:
                errors[key] = {"status": 400, "message": problem}
            elif rule_id not in self.state.rules:
                errors[key] = {"status": 404, "message": f"Conversion {rule_id} not found"}
            elif unknown := self._unknown_campaign(self.state.rules[rule_id].get("account"), [campaign]):
                errors[key] = {"status": 400, "message": unknown}
            else:
                self.state.link(rule_id, campaign)
                results[key] = {"status": 204}
        return li_response(200, {"results": results, "errors": errors}, protocol=g.protocol)

    async def associations_find(self, request: Request) -> Response:
        g = gate(request, self.state, "campaignConversions", "FINDER", restli2=True)
        if g.refusal is not None:
            return g.refusal
        params = split_query(request.scope["query_string"])
        if params.get("q") != "campaigns" or "campaigns" not in params:
            return li_error(400, "Supported finder: q=campaigns&campaigns=List(...)", protocol=g.protocol)
        try:
            campaigns = [
                decode_value(item, "campaigns") for item in parse_list(params["campaigns"], "campaigns")
            ]
        except RestliSyntaxError as exc:
            return li_error(400, str(exc), protocol=g.protocol)
        if not all(is_urn(c, "urn:li:sponsoredCampaign:") for c in campaigns):
            return li_error(
                400,
                "Invalid Urn format: campaigns must be urn:li:sponsoredCampaign:<id>",
                protocol=g.protocol,
            )
        paging, problem = _paging(params, default_count=MAX_PAGE)
        if problem:
            return li_error(400, problem, protocol=g.protocol)
        start, count = paging
        wanted = set(campaigns)
        found = [
            {"associatedAt": at, "campaign": campaign, "conversion": f"{CONVERSION_PREFIX}{rule_id}"}
            for rule_id, links in sorted(self.state.links.items())
            for campaign, at in links.items()
            if campaign in wanted
        ]
        body = {
            "paging": {"start": start, "count": count, "links": [], "total": len(found)},
            "elements": found[start : start + count],
        }
        return li_response(200, body, protocol=g.protocol)


def _entity_mismatch(entity: object, campaign: str, rule_id: int) -> str | None:
    if not isinstance(entity, dict):
        return "Association entity must be a JSON object"
    if entity.get("campaign") not in (None, campaign):
        return "Entity campaign differs from the key's campaign"
    if entity.get("conversion") not in (None, f"{CONVERSION_PREFIX}{rule_id}"):
        return "Entity conversion differs from the key's conversion"
    return None


def _paging(params: dict[str, str], default_count: int = 10) -> tuple[tuple[int, int], str | None]:
    try:
        start = int(params.get("start", "0"))
        count = int(params.get("count", str(default_count)))
    except ValueError:
        return (0, 0), "start and count must be integers"
    if start < 0 or count < 0 or count > MAX_PAGE:
        return (0, 0), f"start must be >= 0 and count within [0, {MAX_PAGE}]"
    return (start, count), None


def _resource_of(path: str) -> str:
    """``/rest/conversions/123`` -> ``/rest/conversions``: requests are counted per resource, not per id."""
    parts = path.rstrip("/").split("/")
    if parts[1:2] == ["rest"]:
        return "/".join(parts[:3])
    return "/".join(parts[:4])


class RequestGuardMiddleware:
    """Counts requests by resource on arrival (before any fault) and answers by status; applies
    LinkedIn's URL size limits (414) and the 411 rule before routing."""

    def __init__(self, app, state: SandboxState) -> None:
        self.app = app
        self.state = state

    async def __call__(self, scope, receive, send) -> None:
        path = scope.get("path", "") if scope["type"] == "http" else ""
        if not path.startswith(("/rest", "/oauth/v2")):
            await self.app(scope, receive, send)
            return
        resource = _resource_of(path)
        self.state.requests_by_path[resource] += 1
        if resource == "/rest/conversionEvents":
            self.state.event_requests_rate.arrived()
        counter = self.state.requests_by_status

        async def counting_send(message) -> None:
            if message["type"] == "http.response.start":
                counter[str(message["status"])] += 1
            await send(message)

        config = self.state.config
        raw_path = scope.get("raw_path") or path.encode()
        query = scope.get("query_string", b"")
        too_long = (
            len(raw_path) + len(query) + 1 > config.max_url_bytes
            or len(query) > config.max_query_bytes
            or any(len(segment) > 4096 for segment in raw_path.split(b"/"))
        )
        if too_long:
            await li_error(414, "Request-URI Too Long")(scope, receive, counting_send)
            return
        if scope["method"] == "POST":
            names = {name for name, _ in scope["headers"]}
            if b"content-length" not in names and b"transfer-encoding" not in names:
                await li_error(411, "Length Required")(scope, receive, counting_send)
                return
        await self.app(scope, receive, counting_send)


def build_app(
    config: SandboxConfig | None = None,
    *,
    state_file: str | None = None,
    faults=(),
    seed=None,
    admin_guard: AdminGuard | None = None,
) -> FastAPI:
    from airflow_provider_linkedin_capi.sandbox.admin import AdminRoutes

    state = SandboxState(config or SandboxConfig(), state_file=state_file, faults=faults, seed=seed)
    app = FastAPI(title="LinkedIn CAPI sandbox", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.sandbox = state
    routes = LinkedInRoutes(state)
    add = app.add_api_route
    add("/oauth/v2/authorization", routes.authorization, methods=["GET"])
    add("/oauth/v2/accessToken", routes.access_token, methods=["POST"])
    add("/oauth/v2/introspectToken", routes.introspect_token, methods=["POST"])
    add("/rest/conversionEvents", routes.conversion_events, methods=["POST"])
    add("/rest/conversionEvents/", routes.conversion_events, methods=["POST"])
    add("/rest/conversions", routes.rules_post, methods=["POST"])
    add("/rest/conversions", routes.rules_find, methods=["GET"])
    add("/rest/conversions/{rule_id}", routes.rule_get, methods=["GET"])
    add("/rest/conversions/{rule_id}", routes.rule_partial_update, methods=["POST"])
    add(ASSOCIATIONS_PATH, routes.associations_batch_put, methods=["PUT"])
    add(ASSOCIATIONS_PATH, routes.associations_find, methods=["GET"])
    add(ASSOCIATIONS_PATH + "/{key:path}", routes.association_put, methods=["PUT"])
    add(ASSOCIATIONS_PATH + "/{key:path}", routes.association_get, methods=["GET"])
    add(ASSOCIATIONS_PATH + "/{key:path}", routes.association_delete, methods=["DELETE"])
    AdminRoutes(state, admin_guard).register(app)

    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        return li_error(exc.status_code, str(exc.detail))

    async def client_gone(request: Request, exc: ClientDisconnect) -> Response:
        # the client gave up (e.g. its timeout fired during a "slow" fault): nobody is left to answer
        return Response(status_code=499)

    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(ClientDisconnect, client_gone)
    app.add_middleware(QueryTunnelingMiddleware)
    app.add_middleware(FaultInjectionMiddleware, state=state)
    app.add_middleware(RequestGuardMiddleware, state=state)
    return app
