"""LinkedIn's REST methods for a task: conversion events, conversion rules and campaign links.

What sits under the methods is shared with the async hook and lives in modules of its own: the settings
(:mod:`~airflow_provider_linkedin_capi.hooks.settings`), the tokens
(:mod:`~airflow_provider_linkedin_capi.hooks.tokens`), the bounded exchange and its retries
(:mod:`~airflow_provider_linkedin_capi.hooks.transport`) and what an answer means
(:mod:`~airflow_provider_linkedin_capi.hooks.answers`). In short:

- a token is refreshed shortly before it expires and once after a 401; a dead refresh token, a 426 or a
  second 401 fail the task at once (task retries cannot fix credentials or a sunset version);
- 429, 5xx, timeouts and dropped connections are retried with jittered exponential backoff; other 4xx are
  properties of the request and are not;
- every request (each retry too) first takes a slot from the connection's per-process token bucket;
- logs and exceptions carry method, path, status, attempt, ``x-li-uuid`` and LinkedIn's own message, never a
  header, a token or a body (bodies hold hashed identifiers and names).

What to do about a batch LinkedIn refused (drop the named events, split, resend) is the transfer's policy
(:mod:`~airflow_provider_linkedin_capi.transfers.batch_delivery`): this hook sends one batch and says what
LinkedIn answered.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from functools import cached_property
from typing import Any, TypeVar
from urllib.parse import quote

import orjson
import requests
from airflow.sdk import BaseHook
from airflow.sdk.log import mask_secret
from requests.adapters import HTTPAdapter

from airflow_provider_linkedin_capi import urns
from airflow_provider_linkedin_capi.constants import CONVERSIONS_API, DEFAULT_CONN_ID, MAX_BATCH_SIZE
from airflow_provider_linkedin_capi.exceptions import LinkedInCapiConfigError, LinkedInCapiError
from airflow_provider_linkedin_capi.hooks import transport
from airflow_provider_linkedin_capi.hooks.answers import (
    Caller,
    Reply,
    TokenStep,
    TokenTries,
    read_answer,
    refusal,
)
from airflow_provider_linkedin_capi.hooks.api_version_sunset import (
    expected_sunset,
    warn_if_version_near_sunset,
)
from airflow_provider_linkedin_capi.hooks.batch_answers import read_batch_success
from airflow_provider_linkedin_capi.hooks.batch_errors import parse_batch_errors
from airflow_provider_linkedin_capi.hooks.connection_config import LinkedInCapiConnectionConfig
from airflow_provider_linkedin_capi.hooks.oauth import failure_text, refresh_form
from airflow_provider_linkedin_capi.hooks.paging import walk_pages
from airflow_provider_linkedin_capi.hooks.rate_limit import TokenBucket, limiter_for
from airflow_provider_linkedin_capi.hooks.request_headers import standard_headers
from airflow_provider_linkedin_capi.hooks.responses import error_body
from airflow_provider_linkedin_capi.hooks.restli import (
    association_key,
    campaign_of_key,
    encode_urn,
    query_string,
    restli_list,
)
from airflow_provider_linkedin_capi.hooks.settings import HookArguments, HookSettings, SettingsProperties
from airflow_provider_linkedin_capi.hooks.tokens import TokenCache
from airflow_provider_linkedin_capi.results import BatchResult, DeliveryResult
from airflow_provider_linkedin_capi.rules import is_conversions_api_rule

__all__ = ["MAX_BATCH_SIZE", "BatchResult", "DeliveryResult", "LinkedInCapiHook"]

# LinkedIn refuses query strings over 4 KB with a 414 (docs/linkedin-contract.md §1.15); stay a little under.
MAX_QUERY_LENGTH = 4000
RULES_PAGE_SIZE = 100
# A rule found by name after a dropped create counts as ours only if LinkedIn created it this recently.
_CREATE_RECOVERY_WINDOW_MS = 300_000

T = TypeVar("T")


class LinkedInCapiHook(SettingsProperties, BaseHook):
    """Talk to LinkedIn's Conversions API with the credentials of a ``linkedin_capi`` connection.

    The connection is read on first use, not in ``__init__``, and the HTTP session (keep-alive) and the
    access token are reused for the life of the hook. Thread-safe for concurrent calls.

    :param linkedin_capi_conn_id: the ``linkedin_capi`` connection.
    :param api_version: ``LinkedIn-Version`` (YYYYMM); default: the connection's ``api_version`` extra, else
        a pinned, currently active month.
    :param timeout: seconds for a whole HTTP call (not per read); default: the connection's ``timeout``
        extra, else 60.
    :param max_retries: retries after a 429, 5xx, timeout or dropped connection; default: the connection's
        ``max_retries`` extra, else 8.
    :param retry_min_wait: first backoff wait in seconds (doubling, with jitter); default: the connection's
        ``retry_min_wait`` extra, else 1.
    :param retry_max_wait: longest backoff wait in seconds; default: the connection's ``retry_max_wait``
        extra, else 60.
    :param requests_per_minute: client-side request budget; default: the connection's
        ``requests_per_minute`` extra, else 600 (LinkedIn's figure per token, THIRD-PARTY sourced).
    :param token_propagation_wait: seconds to wait, once, when LinkedIn refuses a token minted moments ago
        as revoked (THIRD-PARTY sourced behaviour); default: the connection's ``propagation_wait``
        extra, else 2.
    """

    conn_name_attr = "linkedin_capi_conn_id"
    default_conn_name = DEFAULT_CONN_ID
    conn_type = "linkedin_capi"
    hook_name = "LinkedIn Conversions API"

    def __init__(
        self,
        linkedin_capi_conn_id: str = default_conn_name,
        *,
        api_version: str | None = None,
        timeout: float | None = None,
        max_retries: int | None = None,
        retry_min_wait: float | None = None,
        retry_max_wait: float | None = None,
        requests_per_minute: int | None = None,
        token_propagation_wait: float | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self._arguments = HookArguments(
            api_version=api_version,
            timeout=timeout,
            max_retries=max_retries,
            retry_min_wait=retry_min_wait,
            retry_max_wait=retry_max_wait,
            requests_per_minute=requests_per_minute,
            token_propagation_wait=token_propagation_wait,
        )
        self.linkedin_capi_conn_id = linkedin_capi_conn_id
        self._tokens = TokenCache(
            lambda: self.config, self._post_refresh_form, self._retry, mask_secret, self.log
        )
        self._session: requests.Session | None = None
        self._session_lock = threading.Lock()

    @cached_property
    def config(self) -> LinkedInCapiConnectionConfig:
        """The validated connection (read once per hook, which is when a retiring version is warned of)."""
        conn = self.get_connection(self.linkedin_capi_conn_id)
        config = LinkedInCapiConnectionConfig.from_connection(conn)
        for secret in (config.client_secret, config.refresh_token, config.access_token):
            if secret:
                mask_secret(secret)
        warn_if_version_near_sunset(
            self._arguments.api_version or config.api_version,
            datetime.now(UTC).date(),
            self.log,
            self.linkedin_capi_conn_id,
        )
        return config

    @cached_property
    def settings(self) -> HookSettings:
        """The hook's arguments over the connection's extras over the defaults."""
        return self._arguments.resolve(self.config)

    @property
    def ad_account_id(self) -> str | None:
        return self.config.ad_account_id

    @cached_property
    def rate_limiter(self) -> TokenBucket:
        """The bucket shared by every hook of this connection in this process."""
        return limiter_for(self.linkedin_capi_conn_id, self.requests_per_minute)

    def get_conn(self) -> requests.Session:
        """The keep-alive session; auth and version headers are set per request, not on the session."""
        if self._session is None:
            with self._session_lock:
                if self._session is None:
                    session = requests.Session()
                    # Retries are ours (tenacity); urllib3 must not retry a POST behind our back.
                    adapter = HTTPAdapter(pool_connections=2, pool_maxsize=16, max_retries=0)
                    session.mount("https://", adapter)
                    session.mount("http://", adapter)
                    self._session = session
        return self._session

    def close(self) -> None:
        if self._session is not None:
            self._session.close()
            self._session = None

    def get_access_token(self) -> str:
        """A usable bearer token, refreshed if it expires within five minutes."""
        return self._tokens.current().value

    def _post_refresh_form(self) -> transport.BoundedResponse:
        """One request to the token endpoint, paced: token requests count against the budget too."""
        config = self.config
        self.rate_limiter.acquire()
        return transport.send(
            self.get_conn(),
            "POST",
            config.token_url,
            data=refresh_form(config),
            timeout=self.timeout,
            headers={"Accept": "application/json"},
            what="The token request",
        )

    def _retry(
        self,
        what: str,
        attempt: Callable[[int], T],
        *,
        max_retries: int | None = None,
        before_retry: Callable[[transport.TransientFailure], T | None] | None = None,
    ) -> T:
        return transport.with_retries(
            what,
            attempt,
            attempts=(self.max_retries if max_retries is None else max_retries) + 1,
            first=self.retry_min_wait,
            longest=self.retry_max_wait,
            log=self.log,
            before_retry=before_retry,
        )

    @property
    def _caller(self) -> Caller:
        return Caller(self.linkedin_capi_conn_id, self.api_version, self.config.uses_refresh_token)

    def _request(
        self,
        method: str,
        path: str,
        *,
        query: str | None = None,
        body: Any = None,
        restli_method: str | None = None,
        recover: Callable[[], Reply | None] | None = None,
        max_retries: int | None = None,
        timeout: float | None = None,
    ) -> Reply:
        """One logical call with pacing, auth renewal and retries; returns any non-retryable answer.

        :param recover: for calls that are unsafe to repeat (a create): asked before each retry that follows
            an ambiguous failure; a reply it returns ends the call instead of a second request.
        """
        url = f"{self.config.base_url}{path}" + (f"?{query}" if query else "")
        data = None if body is None else orjson.dumps(body, default=_json_default)
        ambiguous_before = False

        def before_retry(failure: transport.TransientFailure) -> Reply | None:
            nonlocal ambiguous_before
            ambiguous_before = ambiguous_before or failure.ambiguous
            if recover is not None and failure.ambiguous:
                return recover()
            return None

        def attempt(number: int) -> Reply:
            reply = self._send(method, url, path, data, restli_method, number, timeout or self.timeout)
            reply.after_ambiguous_failure = ambiguous_before
            return reply

        return self._retry(f"{method} {path}", attempt, max_retries=max_retries, before_retry=before_retry)

    def _send(
        self,
        method: str,
        url: str,
        path: str,
        data: bytes | None,
        restli_method: str | None,
        number: int,
        timeout: float,
    ) -> Reply:
        """One attempt: a request, and again with the same or a new token when a 401 allows it."""
        token = self._tokens.current()
        tries = TokenTries()
        json_body = data is not None
        while True:
            self.rate_limiter.acquire()
            headers = standard_headers(
                token.value, self.api_version, restli_method=restli_method, json_body=json_body
            )
            try:
                response = transport.send(
                    self.get_conn(), method, url, data=data, headers=headers, timeout=timeout, what=path
                )
            except transport.TRANSPORT_ERRORS as err:
                raise transport.transport_failure(err) from None
            uuid = response.headers.get("x-li-uuid")
            self.log.debug(
                "LinkedIn %s %s -> %s (attempt %d, x-li-uuid %s)",
                method,
                path,
                response.status_code,
                number,
                uuid,
            )
            step = read_answer(response, self._caller, token, tries, time.time())
            if isinstance(step, Reply):
                return step
            if step is TokenStep.WAIT_FOR_PROPAGATION:
                self.log.info("A fresh LinkedIn token was refused as revoked; waiting for it to propagate")
                time.sleep(self.token_propagation_wait)
            else:
                self.log.info("LinkedIn answered 401; refreshing the access token")
                token = self._tokens.replace(token)

    def _raise_for_error(self, reply: Reply, what: str) -> None:
        error = refusal(reply, what, self._caller)
        if error is not None:
            raise error

    # ------------------------------------------------------------------ conversion events

    def send_conversion_events(self, events: Sequence[Mapping[str, Any]]) -> BatchResult:
        """Send one BATCH_CREATE of at most 5,000 events.

        LinkedIn rejects the whole batch when one element is bad; the rejection comes back as a
        :class:`BatchResult` (not raised). A dropped connection is retried like a 5xx: events carry
        ``eventId`` so a resent batch can be recognised (CAPI-to-CAPI dedup by LinkedIn is UNKNOWN).
        """
        count = len(events)
        if count > MAX_BATCH_SIZE:
            raise ValueError(f"LinkedIn takes at most {MAX_BATCH_SIZE} events per request, got {count}")
        if count == 0:
            return BatchResult(status=200, accepted=0)
        reply = self._request(
            "POST", "/conversionEvents", body={"elements": events}, restli_method="BATCH_CREATE"
        )
        if reply.ok:
            return read_batch_success(reply.status, reply.payload, count)
        if reply.status in (400, 422):
            problem = error_body(reply.status, reply.payload)
            errors = {i: text for i, text in parse_batch_errors(problem.message).items() if 0 <= i < count}
            return BatchResult(
                status=reply.status,
                accepted=0,
                errors=errors,
                message=None if errors else problem.message.strip(),
            )
        self._raise_for_error(reply, "Sending conversion events")
        raise AssertionError("unreachable")  # pragma: no cover

    # ------------------------------------------------------------------ conversion rules

    def _account_urn(self, account: object | None) -> str:
        value = self.ad_account_id if account is None else account
        if value is None:
            raise LinkedInCapiConfigError(
                f"No ad account given and connection {self.linkedin_capi_conn_id!r} has no "
                "'ad_account_id' extra"
            )
        return urns.account_urn(value)

    def create_conversion_rule(
        self,
        *,
        name: str,
        conversion_type: str,
        account: object | None = None,
        attribution_type: str = "LAST_TOUCH_BY_CAMPAIGN",
        post_click_window_days: int = 30,
        view_through_window_days: int = 7,
        value_type: str | None = None,
        enabled: bool = True,
        auto_association: str | None = None,
    ) -> dict[str, Any]:
        """Create a Conversions API rule and return LinkedIn's entity (with ``id``).

        LinkedIn has no idempotency key for creates (docs/linkedin-contract.md §3.1): a repeated POST
        makes a second rule. So after a dropped connection or a 5xx the rule is first looked up by name
        (created in the last five minutes, same type, CONVERSIONS_API) and only re-created if it is not
        there.

        :param auto_association: ``autoAssociationType`` query parameter (``ALL_CAMPAIGNS``,
            ``OBJECTIVE_BASED``, ``NONE``; values THIRD-PARTY sourced), applied once, at creation.
        """
        account_urn = self._account_urn(account)
        body: dict[str, Any] = {
            "name": name,
            "account": account_urn,
            "conversionMethod": CONVERSIONS_API,
            "type": conversion_type,
            "attributionType": attribution_type,
            "postClickAttributionWindowSize": post_click_window_days,
            "viewThroughAttributionWindowSize": view_through_window_days,
            "enabled": enabled,
        }
        if value_type is not None:
            body["valueType"] = value_type
        query = f"autoAssociationType={quote(auto_association, safe='')}" if auto_association else None
        started_ms = int(time.time() * 1000)

        def recover() -> Reply | None:
            rule = self._find_recent_rule(account_urn, name, conversion_type, started_ms)
            if rule is None:
                return None
            self.log.warning(
                "The connection dropped while creating rule %r, but LinkedIn had created it (id %s); "
                "reusing it",
                name,
                rule.get("id"),
            )
            return Reply(status=201, headers={"x-restli-id": str(rule.get("id"))}, payload=rule)

        reply = self._request("POST", "/conversions", query=query, body=body, recover=recover)
        self._raise_for_error(reply, f"Creating conversion rule {name!r}")
        entity = dict(reply.payload) if isinstance(reply.payload, Mapping) else {}
        rule_id = entity.get("id") or reply.headers.get("x-restli-id")
        if rule_id in (None, ""):
            raise LinkedInCapiError(f"LinkedIn created rule {name!r} but returned no id", status=reply.status)
        rule_id = int(urns.conversion_rule_id(rule_id))
        if "name" not in entity:
            entity = self.get_conversion_rule(rule_id, account_urn)
        entity["id"] = rule_id
        self.log.info("Created conversion rule %s (%r) in %s", rule_id, name, account_urn)
        return entity

    def _find_recent_rule(
        self, account_urn: str, name: str, conversion_type: str, since_ms: int
    ) -> dict[str, Any] | None:
        candidates = [
            rule
            for rule in self.list_conversion_rules(account_urn)
            if rule.get("name") == name
            and rule.get("type") == conversion_type
            and is_conversions_api_rule(rule)
            and int(rule.get("created") or since_ms) >= since_ms - _CREATE_RECOVERY_WINDOW_MS
        ]
        if not candidates:
            return None
        return max(candidates, key=lambda rule: (int(rule.get("created") or 0), int(rule.get("id") or 0)))

    def get_conversion_rule(self, rule_id: object, account: object | None = None) -> dict[str, Any]:
        """One rule's entity; a missing rule raises :class:`LinkedInCapiNotFoundError`."""
        rule = urns.conversion_rule_id(rule_id)
        reply = self._request(
            "GET", f"/conversions/{rule}", query=f"account={encode_urn(self._account_urn(account))}"
        )
        self._raise_for_error(reply, f"Reading conversion rule {rule}")
        return dict(reply.payload or {})

    def _rules_page(
        self,
        account_urn: str,
        start: int,
        count: int,
        *,
        max_retries: int | None = None,
        timeout: float | None = None,
    ) -> list[dict[str, Any]]:
        query = query_string(
            [("q", "account"), ("account", encode_urn(account_urn)), ("start", start), ("count", count)]
        )
        reply = self._request("GET", "/conversions", query=query, max_retries=max_retries, timeout=timeout)
        self._raise_for_error(reply, f"Listing conversion rules of {account_urn}")
        payload = reply.payload if isinstance(reply.payload, Mapping) else {}
        return [dict(element) for element in payload.get("elements") or []]

    def list_conversion_rules(self, account: object | None = None) -> list[dict[str, Any]]:
        """Every rule of the account, following ``start``/``count`` pages until an empty one.

        LinkedIn reports ``paging.total`` as -1 on this finder (docs/linkedin-contract.md §3.3.1), so it
        cannot be used, and whether it caps ``count`` below what was asked is UNKNOWN: a short page is
        therefore not taken as the last one (missing a rule would make the create operator make a
        duplicate). The walk is bounded: see
        :func:`~airflow_provider_linkedin_capi.hooks.paging.walk_pages`.
        """
        account_urn = self._account_urn(account)
        return walk_pages(
            lambda start, count: self._rules_page(account_urn, start, count),
            page_size=RULES_PAGE_SIZE,
            what=f"Listing conversion rules of {account_urn}",
        )

    def update_conversion_rule(self, rule_id: object, account: object | None = None, **changes: Any) -> None:
        """PARTIAL_UPDATE top-level fields of a rule (``{"patch": {"$set": changes}}``).

        ``account`` only selects the rule: LinkedIn does not let a rule change account (THIRD-PARTY,
        docs/linkedin-contract.md §7.9), and the keyword cannot reach the patch. ``campaigns`` replaces the
        whole list; use
        :meth:`associate_campaigns` to add links.
        """
        if not changes:
            raise ValueError("update_conversion_rule needs at least one field to change")
        rule = urns.conversion_rule_id(rule_id)
        reply = self._request(
            "POST",
            f"/conversions/{rule}",
            query=f"account={encode_urn(self._account_urn(account))}",
            body={"patch": {"$set": changes}},
            restli_method="PARTIAL_UPDATE",
        )
        self._raise_for_error(reply, f"Updating conversion rule {rule}")
        self.log.info("Updated conversion rule %s: %s", rule, ", ".join(sorted(changes)))

    # ------------------------------------------------------------------ campaign associations

    def associate_campaigns(self, rule_id: object, campaign_ids: Iterable[object]) -> dict[str, int]:
        """Link campaigns to a rule with batch PUTs; returns campaign URN -> LinkedIn's status per link.

        The keys travel in the query string (``ids=List(...)``), which LinkedIn caps at 4 KB
        (docs/linkedin-contract.md §1.15), so the campaigns are sent in as many batch requests as needed
        to keep every query under that limit (about 36 campaigns each; 250 campaigns take 7 requests). A
        repeated link is harmless (PUT re-asserts it), so these requests are retried freely.
        """
        conversion = urns.conversion_rule_urn(rule_id)
        campaigns = list(dict.fromkeys(urns.campaign_urn(c) for c in campaign_ids))
        statuses: dict[str, int] = {}
        for chunk in _chunks_under_query_limit([(association_key(c, conversion), c) for c in campaigns]):
            keys = [key for key, _ in chunk]
            reply = self._request(
                "PUT",
                "/campaignConversions",
                query=f"ids={restli_list(keys)}",
                body={"entities": {key: {"campaign": c, "conversion": conversion} for key, c in chunk}},
                restli_method="BATCH_UPDATE",
            )
            self._raise_for_error(reply, f"Linking {len(chunk)} campaign(s) to {conversion}")
            statuses.update(_batch_statuses(reply, [c for _, c in chunk]))
        failed = sum(1 for status in statuses.values() if not 200 <= status < 300)
        self.log.info("Linked %d campaign(s) to %s (%d refused)", len(statuses) - failed, conversion, failed)
        return statuses

    def get_campaign_association(self, rule_id: object, campaign_id: object) -> dict[str, Any] | None:
        """The link between a campaign and a rule, or ``None`` when they are not linked."""
        reply = self._request("GET", f"/campaignConversions/{association_key(campaign_id, rule_id)}")
        if reply.status == 404:
            return None
        self._raise_for_error(reply, "Reading a campaign link")
        return dict(reply.payload or {})

    def remove_campaign_association(self, rule_id: object, campaign_id: object) -> bool:
        """Unlink a campaign; ``False`` when there was no such link."""
        reply = self._request("DELETE", f"/campaignConversions/{association_key(campaign_id, rule_id)}")
        if reply.status == 404:
            # After a dropped DELETE the link may be gone because of our own first attempt.
            return reply.after_ambiguous_failure
        self._raise_for_error(reply, "Removing a campaign link")
        return True

    # ------------------------------------------------------------------ connection test

    def test_connection(self) -> tuple[bool, str]:
        """Prove the credentials and the version: get a token, then read one rule of the ad account."""
        try:
            self._tokens.current()
            api_version = self.api_version
            version = f"LinkedIn-Version {api_version} (expected sunset {expected_sunset(api_version)})"
            account = self.ad_account_id
            if account is None:
                return True, (
                    f"Obtained an access token for connection {self.linkedin_capi_conn_id!r}; it has no "
                    f"'ad_account_id', so the API check ({version}) was skipped"
                )
            account_urn = urns.account_urn(account)
            page = self._rules_page(account_urn, 0, 1, max_retries=1, timeout=min(self.timeout, 15.0))
            return True, (
                f"Connected to {self.config.base_url} with {version}: read the "
                f"conversion rules of {account_urn} ({len(page)} on the first page)"
            )
        except Exception as err:  # the answer reaches users who may not read the secrets: none in it
            return False, failure_text(err, self.__dict__.get("config"), self._tokens.held)


def _batch_statuses(reply: Reply, campaigns: list[str]) -> dict[str, int]:
    payload = reply.payload if isinstance(reply.payload, Mapping) else {}
    statuses = dict.fromkeys(campaigns, reply.status)
    for section in ("results", "errors"):
        entries = payload.get(section)
        if not isinstance(entries, Mapping):
            continue
        for key, entry in entries.items():
            campaign = campaign_of_key(str(key))
            if campaign in statuses and isinstance(entry, Mapping) and "status" in entry:
                statuses[campaign] = int(entry["status"])
    return statuses


def _chunks_under_query_limit(items: list[tuple[str, str]]) -> Iterable[list[tuple[str, str]]]:
    overhead = len("ids=List()")
    chunk: list[tuple[str, str]] = []
    length = overhead
    for item in items:
        added = len(item[0]) + (1 if chunk else 0)
        if chunk and length + added > MAX_QUERY_LENGTH:
            yield chunk
            chunk, length, added = [], overhead, len(item[0])
        chunk.append(item)
        length += added
    if chunk:
        yield chunk


def _json_default(value: Any) -> Any:
    if isinstance(value, Mapping):
        return dict(value)
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, Sequence) and not isinstance(value, str | bytes):
        return list(value)
    raise TypeError(f"cannot send a {type(value).__name__} to LinkedIn as JSON")
