"""Reading LinkedIn's answer to a BATCH_CREATE of conversion events, element by element.

A 200 lists one status per element sent, in order. An answer that cannot be read that way (an ``elements``
list of another length than was sent, a status that is not an integer) is an error that counts only what
is certain: elements with an integer status in a list of the right length. The others count as not sent,
so they are neither reported as delivered nor written to a ledger; a re-run resends them with the same
``eventId``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from airflow_provider_linkedin_capi.exceptions import LinkedInCapiError
from airflow_provider_linkedin_capi.hooks.responses import is_retryable
from airflow_provider_linkedin_capi.results import BatchResult

#: One element of a BATCH_CREATE answer for an event LinkedIn took.
_CREATED = {"status": 201}


class LinkedInCapiUnreadableBatchAnswer(LinkedInCapiError):
    """A 200 BATCH_CREATE answer that does not say, element by element, what LinkedIn took.

    ``taken`` and ``refused`` hold what it does say for certain (indices into the batch sent).
    """

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        code: str | None = None,
        taken: tuple[int, ...] = (),
        refused: dict[int, str] | None = None,
    ) -> None:
        super().__init__(message, status=status, code=code)
        self.taken = taken
        self.refused = refused or {}


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
