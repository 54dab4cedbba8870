"""What LinkedIn's answers mean, read the same way by the sync and the async hook.

Private to ``hooks/`` (only :class:`BatchResult` is public, as the hook's return value). Per answer: a reply
the caller reads, a failure to retry, a step for the token (wait for it to propagate, or replace it), or an
error no retry fixes. A BATCH_CREATE answer is read element by element: which events LinkedIn took, which
it refused and why (``Index: N, ERROR :: path :: text``), which are worth sending again.
"""

from __future__ import annotations

import enum
import html
import json
import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

from airflow_provider_linkedin_capi.exceptions import (
    LinkedInCapiAuthError,
    LinkedInCapiError,
    LinkedInCapiNotFoundError,
    LinkedInCapiUnreadableBatchAnswer,
    LinkedInCapiVersionError,
)
from airflow_provider_linkedin_capi.hooks._auth import AccessToken, may_be_unpropagated
from airflow_provider_linkedin_capi.hooks._transport import (
    FORBIDDEN_HINT,
    BoundedResponse,
    LinkedInErrorBody,
    TransientFailure,
    decode_json,
    error_body,
    is_retryable,
    retry_after_seconds,
)

# ----------------------------------------------------------------------------------------------------
# What LinkedIn made of the events sent to it, as plain values.
#
# Kept apart from the hook and the transfer, and importing nothing of the package, so that the errors
# (which carry a partial :class:`DeliveryResult`), the hook (which answers with a :class:`BatchResult`) and
# the delivery policy can all name them without importing one another.


@dataclass(frozen=True)
class BatchResult:
    """LinkedIn's answer to one BATCH_CREATE.

    A 400 or 422 is returned here rather than raised: it is a data problem in some elements, which the
    caller resolves (see :func:`~airflow_provider_linkedin_capi.push.delivery.deliver_events`).

    :param status: HTTP status of the batch.
    :param accepted: elements LinkedIn accepted.
    :param errors: element index -> LinkedIn's text for it (from a 422, a 400 naming ``indices``, or
        per-element statuses of a 200).
    :param message: LinkedIn's message when it rejected the batch without naming any element.
    :param retryable: indices whose per-element status in a 200 is 429 or 5xx: not taken, worth resending.
    :param code: LinkedIn's error ``code`` (or ``serviceErrorCode``) of a batch refused without naming an
        element: two refusals with the same status and code are the same refusal, whatever their message.
    """

    status: int
    accepted: int
    errors: dict[int, str] = field(default_factory=dict)
    message: str | None = None
    retryable: tuple[int, ...] = ()
    code: str | None = None

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300 and not self.errors and not self.retryable


# ----------------------------------------------------------------------------------------------------
# What LinkedIn's answer to an API call means, read the same way by the sync and the async hook.
#
# Per answer, one of: a reply the caller reads (a 2xx, or a refusal that is a property of the request); a
# :class:`~airflow_provider_linkedin_capi.hooks._transport.TransientFailure` to retry (429, 5xx); a step for
# the token (wait for a fresh one to propagate, or replace it, each at most once per attempt); or an error
# that no retry fixes (a 401 on a static token or after a refresh, a 426), raised with advice.
#
# A 401 (docs/linkedin-contract.md §5): a static token is never refreshed, so its 401 is final at once; a
# token minted moments ago and refused as revoked first gets one wait (§7.11), then one refresh; only a 401
# after both is final. Task retries cannot fix credentials or a sunset version, so those errors fail the task.


class TokenStep(enum.Enum):
    """What to do with the token before sending the same request again."""

    WAIT_FOR_PROPAGATION = "wait"
    REPLACE = "replace"


@dataclass(frozen=True)
class Caller:
    """The connection a call is made for, as errors name it."""

    conn_id: str | None
    api_version: str
    uses_refresh_token: bool


@dataclass
class Reply:
    """An answer the caller reads: 2xx, or a refusal about the request (400, 403, 404, 422...)."""

    status: int
    headers: Mapping[str, str]
    payload: Any
    #: Whether an earlier attempt of the same call failed in a way LinkedIn may have acted on.
    after_ambiguous_failure: bool = False

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300


@dataclass
class TokenTries:
    """The two chances a 401 gets within one attempt: a wait for propagation, then a new token."""

    waited: bool = False
    replaced: bool = False


def read_answer(
    response: BoundedResponse, caller: Caller, token: AccessToken, tries: TokenTries, now: float
) -> Reply | TokenStep:
    """The meaning of one answer; raises :class:`TransientFailure` or a final error (see the module)."""
    status = response.status_code
    payload = decode_json(response.content)
    if status == 401:
        return _after_unauthorized(error_body(status, payload, response.reason), caller, token, tries, now)
    if status == 426:
        raise version_error(caller, error_body(status, payload, response.reason))
    if is_retryable(status):
        problem = error_body(status, payload, response.reason)
        raise TransientFailure(
            problem.describe(),
            status=status,
            code=problem.code,
            retry_after=retry_after_seconds(response.headers.get("Retry-After")),
            ambiguous=status != 429,
        )
    return Reply(status=status, headers=response.headers, payload=payload)


def _after_unauthorized(
    problem: LinkedInErrorBody, caller: Caller, token: AccessToken, tries: TokenTries, now: float
) -> TokenStep:
    if not caller.uses_refresh_token:
        raise LinkedInCapiAuthError(
            f"LinkedIn refused the static access token of connection {caller.conn_id!r} "
            f"({problem.describe()}). Put a valid token into the connection's 'access_token' extra, or use "
            "'refresh_token' with the app's client id and secret instead.",
            status=problem.status,
            code=problem.code,
        )
    if not tries.waited and may_be_unpropagated(token, problem.service_error_code, now):
        tries.waited = True
        return TokenStep.WAIT_FOR_PROPAGATION
    if not tries.replaced:
        tries.replaced = True
        return TokenStep.REPLACE
    raise LinkedInCapiAuthError(
        f"LinkedIn refused a freshly refreshed access token of connection {caller.conn_id!r} "
        f"({problem.describe()}). The refresh token in the 'refresh_token' extra no longer gives a usable "
        "token: check that the app still has the Conversions API product and the member an ad-account "
        "role, or re-authorise the app and put the new refresh token into the connection.",
        status=problem.status,
        code=problem.code,
    )


def log_token_step(step: TokenStep, log: Any, wait: float) -> None:
    """Say, in the same words from both hooks, what is done about a 401 before the request goes again."""
    if step is TokenStep.WAIT_FOR_PROPAGATION:
        log.info("A fresh LinkedIn token was refused as revoked; waiting %.2f s to retry it", wait)
    else:
        log.info("LinkedIn answered 401; refreshing the access token")


def version_error(caller: Caller, problem: LinkedInErrorBody) -> LinkedInCapiVersionError:
    """A 426: the pinned ``LinkedIn-Version`` is no longer served (docs/linkedin-contract.md §1.10)."""
    return LinkedInCapiVersionError(
        f"LinkedIn no longer serves LinkedIn-Version {caller.api_version} ({problem.describe()}). Set the "
        f"'api_version' extra of connection {caller.conn_id!r} (or the hook's api_version) to a currently "
        "active YYYYMM month; LinkedIn serves about the last 12.",
        status=problem.status,
        code=problem.code,
    )


def refusal(reply: Reply, what: str, caller: Caller) -> LinkedInCapiError | None:
    """The error for a reply that is not a success, ``None`` for a success."""
    if reply.ok:
        return None
    problem = error_body(reply.status, reply.payload)
    message = f"{what} failed: LinkedIn answered {problem.describe()}"
    if reply.status == 404:
        return LinkedInCapiNotFoundError(message, status=404, code=problem.code)
    if reply.status == 403:
        # A missing scope, role or product: task retries would only repeat the refusal, so fail now.
        return LinkedInCapiAuthError(
            f"{message} (connection {caller.conn_id!r}: {FORBIDDEN_HINT})", status=403, code=problem.code
        )
    return LinkedInCapiError(message, status=reply.status, code=problem.code)


# ----------------------------------------------------------------------------------------------------
# Which elements of a rejected batch LinkedIn complained about.
#
# One bad element fails a whole BATCH_CREATE (docs/linkedin-contract.md §2.3, §7.6). LinkedIn names the
# culprits in prose, in two shapes seen in the wild:
#
# - 422: ``Index: 3, ERROR :: /user/userIds :: field is required ...`` lines; one index may have several
#   ``ERROR ::`` lines, and lines without ``Index:`` continue the index before them;
# - 400: ``Conversion's method should be CONVERSIONS_API, indices [0, 3] (0-indexed)``.
#
# Anything else is not attributable, and the caller has to find the culprits by splitting the batch.


_INDEX_LINE = re.compile(r"^\s*Index:\s*(\d+)\s*,?\s*(.*)$")
# Anchored on the word, not on the optional ", " before it: a leading ``\s*`` would be tried at every
# position of a long run of blanks, which made a 40 KB message of spaces take seconds. The separator before
# the word is trimmed afterwards, in one backward pass.
_INDICES = re.compile(r"ind(?:ices|ex)\s*\[([\d,\s]*)\]\s*(?:\(0-indexed\))?", re.IGNORECASE)


def parse_batch_errors(message: object) -> dict[int, str]:
    """Map element index -> LinkedIn's text for it; ``{}`` when the message names no element."""
    if not isinstance(message, str) or not message:
        return {}
    indexed = _parse_index_lines(message)
    if indexed:
        return indexed
    return _parse_indices_list(message)


def _parse_index_lines(message: str) -> dict[int, str]:
    parts: dict[int, list[str]] = {}
    current: int | None = None
    for raw in message.splitlines():
        line = raw.strip()
        if not line:
            continue
        match = _INDEX_LINE.match(line)
        if match:
            current = int(match.group(1))
            text = match.group(2).strip()
        elif current is None:
            continue  # a preamble before the first "Index:" belongs to no element
        else:
            text = line
        if text:
            parts.setdefault(current, []).append(text)
        else:
            parts.setdefault(current, [])
    return {index: "; ".join(texts) or "rejected by LinkedIn" for index, texts in parts.items()}


def _parse_indices_list(message: str) -> dict[int, str]:
    match = _INDICES.search(message)
    if not match:
        return {}
    indices = [int(token) for token in re.findall(r"\d+", match.group(1))]
    if not indices:
        return {}
    before = message[: match.start()].rstrip().removesuffix(",")
    reason = (before + message[match.end() :]).strip().rstrip(",;").strip() or message
    return dict.fromkeys(indices, reason)


# ----------------------------------------------------------------------------------------------------
# Reading LinkedIn's answer to a BATCH_CREATE of conversion events, element by element.
#
# A 200 lists one status per element sent, in order. An answer that cannot be read that way (an ``elements``
# list of another length than was sent, a status that is not an integer) is an error that counts only what
# is certain: elements with an integer status in a list of the right length. The others count as not sent,
# so they are neither reported as delivered nor written to a ledger; a re-run resends them with the same
# ``eventId``.


#: One element of a BATCH_CREATE answer for an event LinkedIn took.
_CREATED = {"status": 201}


def read_batch_success(status: int, payload: Any, count: int) -> BatchResult:
    """The elements of a 2xx BATCH_CREATE answer (statuses in request order); raise when unreadable."""
    elements = payload.get("elements") if isinstance(payload, Mapping) else None
    if isinstance(elements, list) and len(elements) == count and elements.count(_CREATED) == count:
        return BatchResult(status=status, accepted=count)  # the usual answer, compared in C
    if not isinstance(elements, list) or len(elements) != count:
        got = f"{len(elements)} elements" if isinstance(elements, list) else "no 'elements' list"
        raise LinkedInCapiUnreadableBatchAnswer(
            f"LinkedIn answered a batch of {count} event(s) with HTTP {status} and {got}, so which events it "
            f"took is unknown; none of the {count} is counted as sent (a re-run resends them with the same "
            "eventId)",
            status=status,
            taken=(),
            refused={},
        )
    taken: list[int] = []
    errors: dict[int, str] = {}
    retryable: list[int] = []
    unreadable: list[int] = []
    for index, element in enumerate(elements):
        element_status = element.get("status") if type(element) is dict else None
        if type(element_status) is not int:
            unreadable.append(index)
        elif 200 <= element_status < 300:
            taken.append(index)
        elif is_retryable(element_status):
            retryable.append(index)
        else:
            detail = element.get("error")
            message = detail.get("message") if isinstance(detail, Mapping) else None
            errors[index] = str(message or f"element status {element_status}")
    if unreadable:
        raise LinkedInCapiUnreadableBatchAnswer(
            f"LinkedIn answered a batch of {count} event(s) with HTTP {status}, but {len(unreadable)} "
            f"element(s) carry no integer status (the first at index {unreadable[0]}); only the {len(taken)} "
            "with a success status are counted as sent, the others are not (a re-run resends them with the "
            "same eventId)",
            status=status,
            taken=tuple(taken),
            refused=errors,
        )
    return BatchResult(status=status, accepted=len(taken), errors=errors, retryable=tuple(retryable))


# ----------------------------------------------------------------------------------------------------
# What LinkedIn's messages may quote back of the events sent, taken out before a message reaches a log line,
# an error or the rejects file.
#
# Names, company, title and the IP address travel to LinkedIn unhashed, and a validation message may quote
# the value it refused (whether LinkedIn's do is UNKNOWN), in any spelling: as is, upper-cased, JSON-escaped
# inside a list or an object, as ``\uXXXX`` escapes. The rejects file must never hold such a value, so the
# message is kept only after every spelling of every value is gone. The check does not trust the removal:
# the scrubbed message is decoded (escapes of several kinds, several times over, Unicode-normalised and
# case-folded) and if any value can still be read in it, only the error code and the path are kept.
# Only refusals and failures pass here, so the cost does not matter. Every message an events request gets
# back passes here in the hook (:class:`EventScrub`): a refused element's against its own event, every
# other (a refusal naming no element, a 5xx, a 409, a 413, a retry warning) against all the request's.

#: userInfo fields that hold plaintext about a person, and idTypes sent unhashed that identify one.
_INFO_FIELDS = ("firstName", "lastName", "companyName", "title")
_PLAINTEXT_ID_TYPES = frozenset({"PLAINTEXT_IP_ADDRESS"})
#: Decoding rounds: a value JSON-encoded inside JSON inside JSON is still found.
_DECODE_ROUNDS = 4
_UNICODE_ESCAPE = re.compile(r"\\+u([0-9a-fA-F]{4})|\\+U([0-9a-fA-F]{8})|\\+x([0-9a-fA-F]{2})")
_BACKSLASH_ESCAPE = re.compile(r"\\+([\"'\\/])")
WITHHELD = "LinkedIn's message was left out: it quoted a value of the events sent"
#: The path of LinkedIn's ``ERROR :: /path :: text``, when it is a plain JSON path (no value can hide in it).
_SAFE_ERROR_PATH = re.compile(r"ERROR\s*::\s*(/[A-Za-z0-9_/]*)\s*::")


def plaintext_values(event: Mapping[str, Any]) -> dict[str, str]:
    """The event's plaintext personal values, by a label used in their place: ``{"<firstName>": "Zoë"}``."""
    user = event.get("user")
    if not isinstance(user, dict):
        return {}
    values: dict[str, str] = {}
    info = user.get("userInfo")
    if isinstance(info, dict):
        for key in _INFO_FIELDS:
            value = info.get(key)
            if isinstance(value, str) and value.strip():
                values[f"<{key}>"] = value
    for user_id in user.get("userIds") or ():
        if isinstance(user_id, dict) and user_id.get("idType") in _PLAINTEXT_ID_TYPES:
            value = user_id.get("idValue")
            if isinstance(value, str) and value:
                values[f"<{user_id['idType']}>"] = value
    return values


def _canonical(text: str) -> str:
    """``text`` with escapes decoded (repeatedly), NFKC-normalised and case-folded."""
    for _ in range(_DECODE_ROUNDS):
        decoded = _UNICODE_ESCAPE.sub(_unescape_code_point, text)
        decoded = _BACKSLASH_ESCAPE.sub(r"\1", decoded)
        decoded = html.unescape(unquote(decoded))
        if decoded == text:
            break
        text = decoded
    return unicodedata.normalize("NFKC", text).casefold()


def _unescape_code_point(match: re.Match[str]) -> str:
    digits = match.group(1) or match.group(2) or match.group(3)
    try:
        return chr(int(digits, 16))
    except (ValueError, OverflowError):
        return match.group(0)


def _spellings(value: str) -> set[str]:
    """The spellings of ``value`` a message is likely to hold, longest first when replaced."""
    ascii_json = json.dumps(value)[1:-1]
    raw_json = json.dumps(value, ensure_ascii=False)[1:-1]
    spellings = {value, ascii_json, raw_json, json.dumps(ascii_json)[1:-1], json.dumps(raw_json)[1:-1]}
    spellings.add("".join(f"\\u{ord(char):04x}" for char in value))
    spellings.add(unicodedata.normalize("NFD", value))
    return {spelling for spelling in spellings if spelling}


def _reveals(text: str, canonical_values: list[str]) -> bool:
    """Whether a value can be read in ``text``, decoded or as written.

    Both forms are looked at: decoding can consume a value made of escape characters (a name ``\\``
    vanishes when ``\\'`` is read as an escaped quote), and such a value is then still there as written.
    """
    canonical = _canonical(text)
    written = unicodedata.normalize("NFKC", text).casefold()
    return any(value in canonical or value in written for value in canonical_values)


def scrubbed_message(message: str, event: Mapping[str, Any]) -> str:
    """``message`` with every spelling of the event's plaintext values replaced by a label; or, if any
    value can still be read in it, :data:`WITHHELD`."""
    return _scrubbed(message, list(plaintext_values(event).items()))


def _scrubbed(message: str, values: list[tuple[str, str]]) -> str:
    if not values:
        return message
    canonical_values = [_canonical(value) for _, value in values]
    if not _reveals(message, canonical_values):
        return message
    for label, value in values:
        for spelling in sorted(_spellings(value), key=len, reverse=True):
            message = re.sub(re.escape(spelling), label, message, flags=re.IGNORECASE)
    return WITHHELD if _reveals(message, canonical_values) else message


class EventScrub:
    """Takes what LinkedIn may quote of one request's events out of its messages (see above)."""

    def __init__(self, events: Sequence[Mapping[str, Any]]) -> None:
        self._events = events
        self._all: list[tuple[str, str]] | None = None

    def of_element(self, message: str, index: int) -> str:
        """A refused element's message, against that element's values.

        When the message has to be withheld, the JSON path it named is kept (``ERROR :: path :: ...``), if
        it is a plain path holding no value, so the rejects file still says which field LinkedIn refused.
        """
        event = self._events[index]
        scrubbed = scrubbed_message(message, event)
        if scrubbed != WITHHELD:
            return scrubbed
        found = _SAFE_ERROR_PATH.search(message)
        values = [_canonical(value) for value in plaintext_values(event).values()]
        if found is None or _reveals(found.group(1), values):
            return WITHHELD
        return f"ERROR :: {found.group(1)} :: {WITHHELD}"

    def __call__(self, message: str) -> str:
        """Any other message, against the values of every event of the request (read once, when needed)."""
        if self._all is None:
            seen: dict[str, str] = {}
            for event in self._events:
                for label, value in plaintext_values(event).items():
                    seen.setdefault(value, label)
            self._all = [(label, value) for value, label in seen.items()]
        return _scrubbed(message, self._all)
