"""The LinkedIn Conversions API hooks: :class:`LinkedInCapiHook` for tasks, :class:`LinkedInCapiAsyncHook`
for the triggerer, one module like the HTTP provider's ``hooks/http.py``.

Both read the same connection, pace and retry the same way and read answers the same way; what sits under
them lives in the private modules beside this one: the connection and settings (``_connection``), tokens
(``_auth``), the bounded exchange and retries (``_transport``), what an answer means (``_answers``) and
Rest.li spelling (``_restli``). In short:

- a token is refreshed shortly before it expires and once after a 401; a dead refresh token, a 426 or a
  second 401 fail the task at once (task retries cannot fix credentials or a sunset version);
- 429, 5xx, timeouts and dropped connections are retried with jittered exponential backoff; other 4xx are
  properties of the request and are not;
- every request (each retry too) first takes a slot from the connection's per-process token bucket;
- logs and exceptions carry method, path, status, attempt, ``x-li-uuid`` and LinkedIn's own message, never a
  header, a token or a body (bodies hold hashed identifiers and names).

What to do about a batch LinkedIn refused (drop the named events, split, resend) is the push's policy
(:mod:`airflow_provider_linkedin_capi.push.delivery`): the hook sends one batch and says what LinkedIn
answered.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import threading
import time
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from functools import cached_property
from typing import Any, TypeVar, Unpack, overload
from urllib.parse import quote

import httpx
import orjson
import requests
from airflow.providers.common.compat.connection import get_async_connection, get_async_extra_dejson
from airflow.sdk import BaseHook
from airflow.sdk.log import mask_secret

from airflow_provider_linkedin_capi import urns
from airflow_provider_linkedin_capi.constants import CONVERSIONS_API, DEFAULT_CONN_ID, MAX_BATCH_SIZE
from airflow_provider_linkedin_capi.exceptions import (
    LinkedInCapiConfigError,
    LinkedInCapiError,
    LinkedInCapiStoppedError,
    LinkedInCapiUnreadableBatchAnswer,
)
from airflow_provider_linkedin_capi.hooks import _answers, _transport
from airflow_provider_linkedin_capi.hooks._answers import (
    BatchResult,
    Caller,
    EventScrub,
    Reply,
    TokenStep,
    TokenTries,
    log_token_step,
    parse_batch_errors,
    read_answer,
    read_batch_success,
    refusal,
)
from airflow_provider_linkedin_capi.hooks._auth import (
    AccessToken,
    AsyncTokenCache,
    TokenCache,
    failure_text,
    refresh_form,
)
from airflow_provider_linkedin_capi.hooks._connection import (
    HookArguments,
    HookSettings,
    LinkedInCapiConnectionConfig,
    SettingArguments,
    SettingsProperties,
    connection_form_widgets,
    sunset_note,
    ui_field_behaviour,
    warn_if_version_near_sunset,
)
from airflow_provider_linkedin_capi.hooks._restli import (
    association_key,
    batch_statuses,
    chunks_under_query_limit,
    encode_urn,
    query_string,
    restli_list,
    walk_pages,
)
from airflow_provider_linkedin_capi.hooks._transport import (
    DeadlineAdapter,
    TokenBucket,
    error_body,
    limiter_for,
    standard_headers,
)
from airflow_provider_linkedin_capi.rules import is_conversions_api_rule
from airflow_provider_linkedin_capi.rules.spec import ConversionRuleSpec

# ----------------------------------------------------------------------------------------------------
# Request bodies as LinkedIn receives them: JSON written by orjson, and batches of events kept that way.
#
# A push keeps up to ``max_in_flight`` batches waiting for LinkedIn's answer. Held as dicts, events take
# several times the memory of their JSON (docs/scaling.md measures it), and the body has to be written
# anyway. :class:`EncodedEvents` is a batch in that form: the body is written once, on the thread that built
# the events, and sent as it is. Reading an event back (to explain a refusal, or to split a batch LinkedIn
# refused) decodes the whole body once; only those rare paths pay it.


def json_body(value: Any) -> bytes:
    """``value`` as a request body: any mapping or sequence as a JSON object or list, a Decimal as text."""
    return orjson.dumps(value, default=_json_default)


def _json_default(value: Any) -> Any:
    if isinstance(value, Mapping):
        return dict(value)
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, Sequence) and not isinstance(value, str | bytes):
        return list(value)
    raise TypeError(f"cannot send a {type(value).__name__} to LinkedIn as JSON")


class EncodedEvents(Sequence[dict[str, Any]]):
    """The events of one BATCH_CREATE, held as its request body (``{"elements": [...]}``) instead of dicts.

    A read-only sequence of the events: indexing decodes the body once and keeps the dicts for the life of
    this object (a batch lives until it is settled). Writing the body raises like :func:`json_body` does
    (``TypeError`` or ``orjson.JSONEncodeError``), so an event that cannot be sent fails where it was built.
    """

    __slots__ = ("_count", "_decoded", "body")

    def __init__(self, events: Sequence[Mapping[str, Any]]) -> None:
        written = json_body({"elements": events})
        #: The BATCH_CREATE request body, sent as it is. orjson leaves its buffer up to twice the size of
        #: what it wrote; a batch that waits in flight keeps an exact copy instead (a memcpy of ~2 MB).
        self.body: bytes = bytes(memoryview(written))
        self._count = len(events)
        self._decoded: list[dict[str, Any]] | None = None

    def __len__(self) -> int:
        return self._count

    @overload
    def __getitem__(self, index: int) -> dict[str, Any]: ...

    @overload
    def __getitem__(self, index: slice) -> list[dict[str, Any]]: ...

    def __getitem__(self, index: int | slice) -> dict[str, Any] | list[dict[str, Any]]:
        return self.decoded()[index]

    def decoded(self) -> list[dict[str, Any]]:
        """The events as dicts, decoded from the body on first use."""
        if self._decoded is None:
            self._decoded = orjson.loads(self.body)["elements"]
        return self._decoded

    def __repr__(self) -> str:
        return f"<EncodedEvents: {self._count} event(s), {len(self.body):,} bytes>"


@dataclasses.dataclass
class ExchangeTally:
    """What one thread's calls to LinkedIn met while :meth:`LinkedInCapiHook.tally_exchanges` was open.

    For the push's window that sizes itself (``max_in_flight="auto"``), which needs LinkedIn's own time per
    request, not the time a batch also spent waiting for the budget's pacer or between retries, and the 429s
    the hook retried without telling its caller.
    """

    #: Answers other than 429 (any status), and the seconds from sending each request to reading its answer.
    answers: int = 0
    answer_seconds: float = 0.0
    #: 429 answers (each retried by the hook, or the last one raised).
    throttled: int = 0
    #: Seconds the requests waited for a slot of the connection's budget (the pacer) before being sent.
    paced_seconds: float = 0.0


T = TypeVar("T")


__all__ = ["BatchResult", "EncodedEvents", "ExchangeTally", "LinkedInCapiAsyncHook", "LinkedInCapiHook"]

RULES_PAGE_SIZE = 100
# A rule found by name after a dropped create counts as ours only if LinkedIn created it this recently.
_CREATE_RECOVERY_WINDOW_MS = 300_000


class LinkedInCapiHook(SettingsProperties, BaseHook):
    """Talk to LinkedIn's Conversions API with the credentials of a ``linkedin_capi`` connection.

    The connection is read on first use, not in ``__init__``, and the HTTP session (keep-alive) and the
    access token are reused for the life of the hook. Every call is made the same way (:meth:`_request`):
    take a slot of the connection's per-process budget, send (bounded in time and size, never redirected),
    read the answer (a 401 gets a wait for propagation and a new token, each once), and retry what another
    attempt may fix with the policy both hooks share. Thread-safe for concurrent calls.

    :param linkedin_capi_conn_id: the ``linkedin_capi`` connection.
    :param logger_name: passed to Airflow's ``BaseHook``.
    :param settings: ``api_version``, ``timeout``, ``max_retries``, ``retry_min_wait``, ``retry_max_wait``,
        ``requests_per_minute`` and ``propagation_wait``, each defaulting to the connection's extra of
        the same name (see ``SettingArguments`` in ``hooks/_connection.py``).
    """

    conn_name_attr = "linkedin_capi_conn_id"
    default_conn_name = DEFAULT_CONN_ID
    conn_type = "linkedin_capi"
    hook_name = "LinkedIn Conversions API"

    def __init__(
        self,
        linkedin_capi_conn_id: str = DEFAULT_CONN_ID,
        *,
        logger_name: str | None = None,
        **settings: Unpack[SettingArguments],
    ) -> None:
        super().__init__(logger_name=logger_name)
        self._arguments = HookArguments(**settings)
        self.linkedin_capi_conn_id = linkedin_capi_conn_id
        self._tokens = TokenCache(
            lambda: self.config, self._post_refresh_form, self._retry, mask_secret, self.log
        )
        self._session: requests.Session | None = None
        self._session_lock = threading.Lock()
        self._stopping = threading.Event()
        #: The exchanges open now, on any thread: cut off when the task stops (see :meth:`abort_exchanges`).
        self._open_exchanges: set[_transport.ExchangeDeadline] = set()
        #: Per thread: the :class:`ExchangeTally` that :meth:`tally_exchanges` opened, if any.
        self._tallies = threading.local()

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
                    adapter = DeadlineAdapter(pool_connections=2, pool_maxsize=16, max_retries=0)
                    session.mount("https://", adapter)
                    session.mount("http://", adapter)
                    self._session = session
        return self._session

    def request_stop(self) -> None:
        """Stop every backoff, retry and resend at once (the task is killed or timed out); calls that are
        waiting raise :class:`~airflow_provider_linkedin_capi.exceptions.LinkedInCapiStoppedError`. Answers
        already on the wire may still arrive; :meth:`abort_exchanges` cuts those off too. Safe from a signal
        handler: it sets a flag.
        """
        self._stopping.set()

    @property
    def stopping(self) -> bool:
        return self._stopping.is_set()

    def abort_exchanges(self) -> None:
        """Cut off the exchanges still waiting for LinkedIn's answer (after :meth:`request_stop`)."""
        for exchange in list(self._open_exchanges):
            exchange.cut_off()

    @contextlib.contextmanager
    def tally_exchanges(self) -> Iterator[ExchangeTally]:
        """Count, on this thread, what LinkedIn answers until the block ends (see :class:`ExchangeTally`).

        Thread-local, so that each of a push's sending threads measures its own batch.
        """
        tally, outer = ExchangeTally(), getattr(self._tallies, "current", None)
        self._tallies.current = tally
        try:
            yield tally
        finally:
            self._tallies.current = outer

    def pause(self, seconds: float) -> None:
        """Wait ``seconds`` unless the hook is asked to stop meanwhile; then raise."""
        if self._stopping.wait(seconds) or self._stopping.is_set():
            raise LinkedInCapiStoppedError(
                "The task was asked to stop; the call to LinkedIn was not retried (its outcome is unknown)"
            )

    def close(self) -> None:
        if self._session is not None:
            self._session.close()
            self._session = None

    def get_access_token(self) -> str:
        """A usable bearer token, refreshed if it expires within five minutes."""
        return self._tokens.current().value

    def _post_refresh_form(self) -> _transport.BoundedResponse:
        """One request to the token endpoint, paced: token requests count against the budget too."""
        config = self.config
        self.rate_limiter.acquire()
        return _transport.send(
            self.get_conn(),
            "POST",
            config.oauth_url,
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
        before_retry: Callable[[_transport.TransientFailure], T | None] | None = None,
        scrub: Callable[[str], str] | None = None,
    ) -> T:
        return _transport.with_retries(
            what,
            attempt,
            attempts=(self.max_retries if max_retries is None else max_retries) + 1,
            first=self.retry_min_wait,
            longest=self.retry_max_wait,
            log=self.log,
            before_retry=before_retry,
            sleep=self.pause,
            **({"scrub": scrub} if scrub is not None else {}),
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
        scrub: Callable[[str], str] | None = None,
    ) -> Reply:
        """One logical call with pacing, auth renewal and retries; returns any non-retryable answer.

        :param body: the JSON body: a value to write, or ``bytes`` already written (an encoded batch).
        :param recover: for calls that are unsafe to repeat (a create): asked before each retry that follows
            an ambiguous failure; a reply it returns ends the call instead of a second request.
        :param scrub: takes what the server may quote of the body out of retry warnings and errors.
        """
        url = f"{self.config.base_url}{path}" + (f"?{query}" if query else "")
        data = body if body is None or isinstance(body, bytes) else json_body(body)
        ambiguous_before = False

        def before_retry(failure: _transport.TransientFailure) -> Reply | None:
            nonlocal ambiguous_before
            ambiguous_before = ambiguous_before or failure.ambiguous
            if recover is not None and failure.ambiguous:
                return recover()
            return None

        def attempt(number: int) -> Reply:
            reply = self._send(method, url, path, data, restli_method, number, timeout or self.timeout)
            reply.after_ambiguous_failure = ambiguous_before
            return reply

        return self._retry(
            f"{method} {path}", attempt, max_retries=max_retries, before_retry=before_retry, scrub=scrub
        )

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
        if self._stopping.is_set():
            self.pause(0)
        token = self._tokens.current()
        tries = TokenTries()
        json_body = data is not None
        while True:
            paced = self.rate_limiter.acquire()
            headers = standard_headers(
                token.value, self.api_version, restli_method=restli_method, json_body=json_body
            )
            sent_at = time.monotonic()
            try:
                response = _transport.send(
                    self.get_conn(),
                    method,
                    url,
                    data=data,
                    headers=headers,
                    timeout=timeout,
                    what=path,
                    open_exchanges=self._open_exchanges,
                )
            except _transport.TRANSPORT_ERRORS as err:
                raise _transport.transport_failure(err) from None
            tally = getattr(self._tallies, "current", None)
            if tally is not None:
                tally.paced_seconds += paced
                if response.status_code == 429:
                    tally.throttled += 1
                else:
                    tally.answers += 1
                    tally.answer_seconds += time.monotonic() - sent_at
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
            log_token_step(step, self.log, self.propagation_wait)
            if step is TokenStep.WAIT_FOR_PROPAGATION:
                time.sleep(self.propagation_wait)
            else:
                token = self._tokens.replace(token)

    def _raise_for_error(self, reply: Reply, what: str) -> None:
        error = refusal(reply, what, self._caller)
        if error is not None:
            raise error

    @classmethod
    def get_ui_field_behaviour(cls) -> dict[str, Any]:
        """Airflow 3.1's form reads this; 3.2+ read ``get_provider_info()``, the one source of both."""
        return ui_field_behaviour()

    @classmethod
    def get_connection_form_widgets(cls) -> dict[str, Any]:
        """Airflow 3.1's form reads this; 3.2+ read ``get_provider_info()``, the one source of both."""
        return connection_form_widgets()

    # ------------------------------------------------------------------ conversion events

    def backoff_wait(self, retry: int) -> float:
        """Seconds before retry number ``retry`` of this hook's settings: the provider's one backoff formula.

        For callers that resend parts of a batch themselves (the push, after LinkedIn took only some of it).
        """
        return _transport.backoff_wait(retry, self.retry_min_wait, self.retry_max_wait)

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
        scrub = EventScrub(events)
        try:
            reply = self._request(
                "POST", "/conversionEvents", body=body, restli_method="BATCH_CREATE", scrub=scrub
            )
            if reply.ok:
                result = read_batch_success(reply.status, reply.payload, count)
                if not result.errors:
                    return result
                errors = {i: scrub.of_element(text, i) for i, text in result.errors.items()}
                return dataclasses.replace(result, errors=errors)
            if reply.status in (400, 422):
                problem = error_body(reply.status, reply.payload)
                errors = {
                    i: scrub.of_element(text, i)
                    for i, text in parse_batch_errors(problem.message).items()
                    if 0 <= i < count
                }
                return BatchResult(
                    status=reply.status,
                    accepted=0,
                    errors=errors,
                    message=None if errors else scrub(problem.message.strip()),
                    code=None if errors else problem.code,
                )
            self._raise_for_error(reply, "Sending conversion events")
        except LinkedInCapiError as error:  # a 5xx after retries, a 409, a 413, a 200 it cannot read
            error.args = (scrub(str(error)), *error.args[1:])
            if isinstance(error, LinkedInCapiUnreadableBatchAnswer):
                error.refused = {i: scrub.of_element(text, i) for i, text in error.refused.items()}
            raise
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
        self, spec: ConversionRuleSpec, account: object | None = None
    ) -> dict[str, Any]:
        """Create a Conversions API rule from ``spec`` and return LinkedIn's entity (with ``id``).

        LinkedIn has no idempotency key for creates (docs/linkedin-contract.md §3.1): a repeated POST
        makes a second rule. So after a dropped connection or a 5xx the rule is first looked up by name
        (created in the last five minutes, same type, CONVERSIONS_API) and only re-created if it is not
        there. ``spec.auto_association`` goes as the ``autoAssociationType`` query parameter (values
        THIRD-PARTY sourced), which LinkedIn applies once, at creation.
        """
        account_urn = self._account_urn(account)
        name, conversion_type = spec.name, spec.conversion_type
        body: dict[str, Any] = {
            "name": name,
            "account": account_urn,
            "conversionMethod": CONVERSIONS_API,
            **spec.entity_fields(),
        }
        auto_association = spec.auto_association
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
        :func:`~airflow_provider_linkedin_capi.hooks._restli.walk_pages`.
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
        """
        Prove the connection can push: get a token, then read one rule of the ad account.

        Success means that read ran. A token alone proves neither the scopes, nor the member's role on
        the account, nor the version, so a connection without ``ad_account_id`` fails the test (Airflow's
        CLI shows only "Connection success!" and would drop a note that the check was skipped).
        """
        try:
            self._tokens.current()
            api_version = self.api_version
            version = f"LinkedIn-Version {api_version} ({sunset_note(api_version, datetime.now(UTC).date())})"
            account = self.ad_account_id
            if account is None:
                return False, (
                    f"Obtained an access token for connection {self.linkedin_capi_conn_id!r}, but it has no "
                    "'ad_account_id', so the API check could not run: add the extra 'ad_account_id' (the "
                    "number in Campaign Manager's URL, .../accounts/<id>/...) and test again"
                )
            account_urn = urns.account_urn(account)
            page = self._rules_page(account_urn, 0, 1, max_retries=1, timeout=min(self.timeout, 15.0))
            return True, (
                f"Connected to {self.config.base_url} with {version}: read the "
                f"conversion rules of {account_urn} ({len(page)} on the first page)"
            )
        except Exception as err:  # the answer reaches users who may not read the secrets: none in it
            return False, failure_text(err, self.__dict__.get("config"), self._tokens.held)


# ----------------------------------------------------------------------------------------------------
# A minimal async LinkedIn client for the triggerer.
#
# The triggerer runs every trigger of the deployment on one event loop, so a blocking call here (``requests``,
# ``time.sleep``, the sync ``get_connection``) would stall them all. This hook does only what the rule-status
# trigger needs, reading a rule, with ``httpx.AsyncClient`` and ``asyncio.sleep``. Everything else is the
# sync hook's, shared: the settings (``_connection``), the tokens
# (``_auth``), the retries and the backoff
# (``_transport``) and what an answer means
# (``_answers``); so both refresh, retry and fail alike.


try:  # Airflow 3.2+: masks without a blocking call to the supervisor.
    from airflow.sdk.log import amask_secret as _amask_secret
except ImportError:  # pragma: no cover - older task SDKs
    _amask_secret = None
T = TypeVar("T")


async def _mask_secret(secret: str) -> None:
    if _amask_secret is not None:
        await _amask_secret(secret)
    else:  # pragma: no cover
        from airflow.sdk.log import mask_secret

        mask_secret(secret)


class LinkedInCapiAsyncHook(SettingsProperties, BaseHook):
    """
    Read conversion rules from LinkedIn without blocking the event loop.

    It takes the sync hook's settings, resolved the same way (the argument, else the connection's extra of
    the same name, else the same default), so a deferred sensor retries exactly like a poked one. They are
    read from the connection, so they are known only after :meth:`get_config` (every call awaits it).

    :param linkedin_capi_conn_id: Airflow connection id of type ``linkedin_capi``.
    :param settings: see :class:`~airflow_provider_linkedin_capi.hooks._connection.SettingArguments`.
    """

    conn_name_attr = "linkedin_capi_conn_id"
    default_conn_name = DEFAULT_CONN_ID
    conn_type = "linkedin_capi"
    hook_name = "LinkedIn Conversions API (async)"

    def __init__(
        self, linkedin_capi_conn_id: str = default_conn_name, **settings: Unpack[SettingArguments]
    ) -> None:
        super().__init__()
        self._arguments = HookArguments(**settings)
        self.linkedin_capi_conn_id = linkedin_capi_conn_id
        self._config: LinkedInCapiConnectionConfig | None = None
        self._settings: HookSettings | None = None
        self._client: httpx.AsyncClient | None = None
        self._tokens = AsyncTokenCache(
            self.get_config, self._post_refresh_form, self._retry, _mask_secret, self.log
        )

    async def __aenter__(self) -> LinkedInCapiAsyncHook:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def get_config(self) -> LinkedInCapiConnectionConfig:
        """The connection, fetched with the async helpers (the sync ones can deadlock in the triggerer)."""
        if self._config is None:
            conn = await get_async_connection(self.linkedin_capi_conn_id, hook=type(self))
            extra = await get_async_extra_dejson(conn)
            self._config = LinkedInCapiConnectionConfig.from_connection(conn, extra=extra)
            self._settings = self._arguments.resolve(self._config)
        return self._config

    @property
    def settings(self) -> HookSettings:
        """The resolved settings; reading the connection for them here would need a blocking call."""
        if self._settings is None:
            raise RuntimeError("await get_config() before reading the hook's settings")
        return self._settings

    async def _get_client(self) -> httpx.AsyncClient:
        if self._client is None:
            await self.get_config()
            self._client = httpx.AsyncClient(timeout=self.timeout, follow_redirects=False)
        return self._client

    async def get_conversion_rule(
        self, rule_id: str | int, account: str | int | None = None
    ) -> dict[str, Any]:
        """The rule entity; :class:`LinkedInCapiNotFoundError` when LinkedIn answers 404."""
        config = await self.get_config()
        account_value = account if account not in (None, "") else config.ad_account_id
        if account_value is None:
            # Whether LinkedIn needs ``account`` on GET is UNKNOWN; every client sends it, and so do we.
            raise LinkedInCapiConfigError(
                f"No ad account given and connection {self.linkedin_capi_conn_id!r} has no "
                "'ad_account_id' extra"
            )
        rule = urns.conversion_rule_id(rule_id)
        query = query_string([("account", encode_urn(urns.account_urn(account_value)))])
        reply = await self._request("GET", f"/conversions/{rule}", query)
        error = _answers.refusal(reply, f"Reading conversion rule {rule}", self._caller())
        if error is not None:
            raise error
        if not isinstance(reply.payload, dict):
            raise LinkedInCapiError(
                f"LinkedIn answered HTTP {reply.status} without a rule entity", status=reply.status
            )
        return reply.payload

    def _caller(self) -> _answers.Caller:
        config = self._config
        uses_refresh_token = config.uses_refresh_token if config else False
        return _answers.Caller(self.linkedin_capi_conn_id, self.api_version, uses_refresh_token)

    async def _retry(self, what: str, attempt: Callable[[int], Awaitable[T]]) -> T:
        return await _transport.with_retries_async(
            what,
            attempt,
            attempts=self.max_retries + 1,
            first=self.retry_min_wait,
            longest=self.retry_max_wait,
            log=self.log,
        )

    async def _request(self, method: str, path: str, query: str) -> _answers.Reply:
        """One API call with the sync hook's retries, and the same two chances after a 401."""
        url = f"{(await self.get_config()).base_url}{path}?{query}"
        client = await self._get_client()

        async def attempt(number: int) -> _answers.Reply:
            token, tries = await self._tokens.current(), _answers.TokenTries()
            while True:
                await self._take_request_slot()
                try:
                    response = await _transport.send_async(
                        client,
                        method,
                        url,
                        headers=standard_headers(token.value, self.api_version),
                        timeout=self.timeout,
                        what=path,
                    )
                except _transport.TRANSPORT_ERRORS as err:
                    raise _transport.transport_failure(err) from None
                step = _answers.read_answer(response, self._caller(), token, tries, time.time())
                if isinstance(step, _answers.Reply):
                    return step
                token = await self._next_token(step, token)

        return await self._retry(f"{method} {path}", attempt)

    async def _next_token(self, step: _answers.TokenStep, token: AccessToken) -> AccessToken:
        """The token to send again after a 401: the same after a wait for it to propagate, else a new one."""
        _answers.log_token_step(step, self.log, self.propagation_wait)
        if step is _answers.TokenStep.WAIT_FOR_PROPAGATION:
            await asyncio.sleep(self.propagation_wait)
            return token
        return await self._tokens.replace(token)

    async def _take_request_slot(self) -> None:
        """Wait for a slot of the connection's per-minute budget, shared with every hook of the process.

        Many sensors deferred on one token all poll from the triggerer; without pacing, their reads could
        draw the 429s that starve pushes sharing the token.
        """
        wait = limiter_for(self.linkedin_capi_conn_id, self.requests_per_minute).reserve()
        if wait > 0:
            await asyncio.sleep(wait)

    async def _post_refresh_form(self) -> _transport.BoundedResponse:
        """One request to the token endpoint, paced: token requests count against the budget too."""
        config = await self.get_config()
        client = await self._get_client()
        await self._take_request_slot()
        return await _transport.send_async(
            client,
            "POST",
            config.oauth_url,
            data=refresh_form(config),
            headers={"Accept": "application/json"},
            timeout=self.timeout,
            what="The token request",
        )
