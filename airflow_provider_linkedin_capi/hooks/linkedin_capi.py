"""LinkedIn's REST methods for a task: conversion events, conversion rules and campaign links.

The connection, the session and the one request path every method takes are
:class:`~airflow_provider_linkedin_capi.hooks.session.LinkedInCapiSession`'s; what sits under them is shared
with the async hook and lives in modules of its own: the settings
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

import time
from collections.abc import Iterable, Mapping, Sequence
from typing import Any
from urllib.parse import quote

from airflow_provider_linkedin_capi import urns
from airflow_provider_linkedin_capi.constants import CONVERSIONS_API, DEFAULT_CONN_ID, MAX_BATCH_SIZE
from airflow_provider_linkedin_capi.exceptions import LinkedInCapiConfigError, LinkedInCapiError
from airflow_provider_linkedin_capi.hooks import form_fields
from airflow_provider_linkedin_capi.hooks.answers import Reply
from airflow_provider_linkedin_capi.hooks.api_version_sunset import expected_sunset
from airflow_provider_linkedin_capi.hooks.batch_answers import read_batch_success
from airflow_provider_linkedin_capi.hooks.batch_errors import parse_batch_errors
from airflow_provider_linkedin_capi.hooks.json_body import EncodedEvents
from airflow_provider_linkedin_capi.hooks.oauth import failure_text
from airflow_provider_linkedin_capi.hooks.paging import walk_pages
from airflow_provider_linkedin_capi.hooks.responses import error_body
from airflow_provider_linkedin_capi.hooks.restli import (
    association_key,
    batch_statuses,
    chunks_under_query_limit,
    encode_urn,
    query_string,
    restli_list,
)
from airflow_provider_linkedin_capi.hooks.session import LinkedInCapiSession
from airflow_provider_linkedin_capi.results import BatchResult, DeliveryResult
from airflow_provider_linkedin_capi.rules import is_conversions_api_rule

__all__ = ["MAX_BATCH_SIZE", "BatchResult", "DeliveryResult", "LinkedInCapiHook"]

RULES_PAGE_SIZE = 100
# A rule found by name after a dropped create counts as ours only if LinkedIn created it this recently.
_CREATE_RECOVERY_WINDOW_MS = 300_000


class LinkedInCapiHook(LinkedInCapiSession):
    """Talk to LinkedIn's Conversions API with the credentials of a ``linkedin_capi`` connection.

    The connection is read on first use, not in ``__init__``, and the HTTP session (keep-alive) and the
    access token are reused for the life of the hook. Thread-safe for concurrent calls.

    :param linkedin_capi_conn_id: the ``linkedin_capi`` connection.
    :param logger_name: passed to Airflow's ``BaseHook``.
    :param settings: ``api_version``, ``timeout``, ``max_retries``, ``retry_min_wait``, ``retry_max_wait``,
        ``requests_per_minute`` and ``token_propagation_wait``, each defaulting to the connection's extra of
        the same name (see :class:`~airflow_provider_linkedin_capi.hooks.settings.SettingArguments`).
    """

    conn_name_attr = "linkedin_capi_conn_id"
    default_conn_name = DEFAULT_CONN_ID
    conn_type = "linkedin_capi"
    hook_name = "LinkedIn Conversions API"

    @classmethod
    def get_ui_field_behaviour(cls) -> dict[str, Any]:
        """Airflow 3.1's form reads this; 3.2+ read ``get_provider_info()``, the one source of both."""
        return form_fields.ui_field_behaviour()

    @classmethod
    def get_connection_form_widgets(cls) -> dict[str, Any]:
        """Airflow 3.1's form reads this; 3.2+ read ``get_provider_info()``, the one source of both."""
        return form_fields.connection_form_widgets()

    # ------------------------------------------------------------------ conversion events

    def send_conversion_events(self, events: Sequence[Mapping[str, Any]]) -> BatchResult:
        """Send one BATCH_CREATE of at most 5,000 events (dicts, or :class:`EncodedEvents`, sent as written).

        LinkedIn rejects the whole batch when one element is bad; the rejection comes back as a
        :class:`BatchResult` (not raised). A dropped connection is retried like a 5xx: events carry
        ``eventId`` so a resent batch can be recognised (CAPI-to-CAPI dedup by LinkedIn is UNKNOWN).
        """
        count = len(events)
        if count > MAX_BATCH_SIZE:
            raise ValueError(f"LinkedIn takes at most {MAX_BATCH_SIZE} events per request, got {count}")
        if count == 0:
            return BatchResult(status=200, accepted=0)
        body = events.body if isinstance(events, EncodedEvents) else {"elements": events}
        reply = self._request("POST", "/conversionEvents", body=body, restli_method="BATCH_CREATE")
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
        for chunk in chunks_under_query_limit([(association_key(c, conversion), c) for c in campaigns]):
            keys = [key for key, _ in chunk]
            reply = self._request(
                "PUT",
                "/campaignConversions",
                query=f"ids={restli_list(keys)}",
                body={"entities": {key: {"campaign": c, "conversion": conversion} for key, c in chunk}},
                restli_method="BATCH_UPDATE",
            )
            self._raise_for_error(reply, f"Linking {len(chunk)} campaign(s) to {conversion}")
            statuses.update(batch_statuses(reply, [c for _, c in chunk]))
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
