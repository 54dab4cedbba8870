"""What LinkedIn's answer to an API call means, read the same way by the sync and the async hook.

Per answer, one of: a reply the caller reads (a 2xx, or a refusal that is a property of the request); a
:class:`~airflow_provider_linkedin_capi.hooks.transport.TransientFailure` to retry (429, 5xx); a step for
the token (wait for a fresh one to propagate, or replace it, each at most once per attempt); or an error
that no retry fixes (a 401 on a static token or after a refresh, a 426), raised with advice.

A 401 (docs/linkedin-contract.md §5): a static token is never refreshed, so its 401 is final at once; a
token minted moments ago and refused as revoked first gets one wait (§7.11), then one refresh; only a 401
after both is final. Task retries cannot fix credentials or a sunset version, so those errors fail the task.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from airflow_provider_linkedin_capi.exceptions import (
    LinkedInCapiAuthError,
    LinkedInCapiError,
    LinkedInCapiNotFoundError,
    LinkedInCapiVersionError,
)
from airflow_provider_linkedin_capi.hooks.oauth import AccessToken, may_be_unpropagated
from airflow_provider_linkedin_capi.hooks.responses import (
    FORBIDDEN_HINT,
    LinkedInErrorBody,
    decode_json,
    error_body,
    is_retryable,
    retry_after_seconds,
)
from airflow_provider_linkedin_capi.hooks.transport import BoundedResponse, TransientFailure


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
