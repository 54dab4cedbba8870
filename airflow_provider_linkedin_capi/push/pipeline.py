"""The hot loop: rows -> events or rejections -> batches, with the rule gate and the duplicate filter.

Rules are checked once each at LinkedIn (:class:`ConversionRuleGate`); each eventId's first copy goes on
and repeats are counted or refused (:class:`DuplicateFilter`); full batches go to the engine's sink.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

from airflow.providers.common.compat.sdk import AirflowFailException

from airflow_provider_linkedin_capi import urns
from airflow_provider_linkedin_capi.conversions import Rejection, RejectionCode
from airflow_provider_linkedin_capi.conversions.event_ids import KEY_COLUMNS_FIELD
from airflow_provider_linkedin_capi.exceptions import (
    DuplicateRowError,
    InvalidRowError,
    KeyColumnError,
    LinkedInCapiNotFoundError,
)
from airflow_provider_linkedin_capi.push.files import rejection_for_event
from airflow_provider_linkedin_capi.push.options import DEFAULT_MAX_DISTINCT_RULES
from airflow_provider_linkedin_capi.rules import rule_usability
from airflow_provider_linkedin_capi.rules.status import linked_campaign_urns

if TYPE_CHECKING:
    from airflow_provider_linkedin_capi.conversions import EventBuilder, Rejection
    from airflow_provider_linkedin_capi.hooks.linkedin_capi import LinkedInCapiHook
    from airflow_provider_linkedin_capi.push.files import RejectionLog
    from airflow_provider_linkedin_capi.push.report import ProgressReporter

# ----------------------------------------------------------------------------------------------------
# Which conversion rules may receive events, asked of LinkedIn once per rule.
#
# An event for a rule that does not exist, belongs to another account, is disabled, or is not a
# ``CONVERSIONS_API`` rule is refused or silently dropped by LinkedIn, and a whole batch can fail over one
# such element. So the operator's own rule is checked before a single row is read (a typo in
# ``conversion_rule_id`` fails fast), and each rule named in a per-row ``conversion`` column is read once, on
# first sight; rows naming an unusable rule become ``missing_conversion_rule`` rejections. What "usable"
# means is decided by :func:`airflow_provider_linkedin_capi.rules.rule_usability`, the same function the
# sensor and the rule operators use.
#
# The lookups are capped at ``max_distinct_rules`` distinct rules per push: a CRM column that happens to be
# called ``conversion`` but holds deal ids would otherwise cost one GET per row, more than a day's request
# budget at a million rows. Past the cap the task fails before the next lookup.
#
# A usable rule linked to no campaign still takes events, but LinkedIn credits them to no campaign, so no
# campaign report ever shows them: the push warns once per such rule and says so in its summary
# (``rule_has_campaigns``). Whether the rule entity carries ``autoAssociationType`` after creation is UNKNOWN;
# when it does and says anything but ``NONE``, campaigns are taken to be linked by LinkedIn.


class ConversionRuleGate:
    """Remembers, per rule URN, whether events may go to it (``admitted``) or why not (``refused``)."""

    def __init__(
        self,
        hook: LinkedInCapiHook,
        max_distinct_rules: int = DEFAULT_MAX_DISTINCT_RULES,
        log: logging.Logger | None = None,
    ) -> None:
        self.hook = hook
        self.max_distinct_rules = max_distinct_rules
        self.log = log or logging.getLogger(__name__)
        self.admitted: set[str] = set()
        self.refused: dict[str, str] = {}
        #: Admitted rules linked to no campaign (and not auto-associated), in the order they were read.
        self.without_campaigns: list[str] = []

    @property
    def rule_has_campaigns(self) -> bool | None:
        """Whether every rule events went to credits a campaign; None when no rule was read."""
        return None if not self.admitted else not self.without_campaigns

    def require(self, rule: object) -> str:
        """The URN of the operator's rule, or a task failure explaining why no row can go to it."""
        try:
            urn = urns.conversion_rule_urn(rule)
        except ValueError as error:
            raise AirflowFailException(f"conversion_rule_id: {error}") from None
        reason = self._verdict(urn)
        if reason is not None:
            raise AirflowFailException(f"{reason}. Nothing was read or sent.")
        return urn

    def refusal(self, event: dict[str, Any]) -> Rejection | None:
        """``None`` when the event's rule takes events, else the row's ``missing_conversion_rule`` rejection.

        Called only for rules not yet in ``admitted``, so LinkedIn is asked once per distinct rule.
        """
        urn = event["conversion"]
        reason = self._verdict(urn)
        if reason is None:
            return None
        return rejection_for_event(event, RejectionCode.MISSING_CONVERSION_RULE, "conversion", reason)

    def _verdict(self, urn: str) -> str | None:
        if urn in self.admitted:
            return None
        if urn in self.refused:
            return self.refused[urn]
        if len(self.admitted) + len(self.refused) >= self.max_distinct_rules:
            raise AirflowFailException(
                f"The 'conversion' column names more than {self.max_distinct_rules} distinct conversion "
                f"rules (max_distinct_rules={self.max_distinct_rules}); no more rules are looked up. If the "
                "column does not hold LinkedIn rule ids, rename it with column_map; otherwise raise "
                "max_distinct_rules."
            )
        reason = self._ask_linkedin(urn)
        if reason is None:
            self.admitted.add(urn)
        else:
            self.refused[urn] = reason
        return reason

    def _ask_linkedin(self, urn: str) -> str | None:
        try:
            rule_id = urns.conversion_rule_id(urn)
        except ValueError:
            return f"Conversion rule {urn!r} is not a numeric id or {urns.CONVERSION_PREFIX}<id>"
        account = self.hook.ad_account_id
        try:
            rule = self.hook.get_conversion_rule(rule_id)
        except LinkedInCapiNotFoundError:
            return f"Conversion rule {rule_id} does not exist in ad account {account}"
        problem = rule_usability({**rule, "id": rule.get("id", rule_id)}).problem
        if problem is None and not _credits_a_campaign(rule):
            self.without_campaigns.append(urn)
            self.log.warning(
                "Conversion rule %s (%r) is linked to no campaign and has no auto-association: "
                "LinkedIn takes its events but credits them to no campaign, so no campaign report will "
                "show them. Link its campaigns (LinkedInCapiAssociateCampaignsOperator, or in Campaign "
                "Manager) and the events sent from then on count.",
                urn,
                str(rule.get("name") or "")[:200],
            )
        return problem


def _credits_a_campaign(rule: dict[str, Any]) -> bool:
    auto = rule.get("autoAssociationType")
    return bool(linked_campaign_urns(rule)) or (isinstance(auto, str) and auto not in ("", "NONE"))


# ----------------------------------------------------------------------------------------------------
# Rows of one run that derive the same eventId (a JOIN fan-out): the event goes once, the rest are counted.
#
# A query that joins deals to their contacts or line items returns a deal once per match; with
# ``key_columns=["deal_id"]`` every copy derives the same eventId. Sending each copy would count one
# conversion several times (whether LinkedIn deduplicates resent eventIds is UNKNOWN), so only the first
# copy is handed on, and the others are counted as ``duplicate_rows`` (or fail the task, with
# ``on_duplicate="fail"``).
#
# Every eventId handed on has to be remembered for the rest of the run, so memory is what matters: a
# Python set of strings would cost about 150 bytes per row (750 MB at five million). The ids are kept as
# 64-bit hashes (Python's own string hash: computed once per string and cached on it, so nearly free on
# the hot path, and stable within one process, which is all a single run needs). The newest hashes sit
# in a small set; past ``_SET_LIMIT`` they move into sorted numpy arrays, merged like a log-structured
# tree (arrays of similar size merged, up to about a million hashes each), so a five-million-row run
# holds about 8 bytes per id plus a merge buffer of at most 16 MB, and a batch is looked up with one
# ``searchsorted`` per array. numpy is
# only imported once a run passes that limit. Two different eventIds with the same 64-bit hash (about a
# one-in-a-million chance among five million ids) would make the second look like a repeat.


#: Hashes kept in the plain set before they move to the compact arrays (about 6 MB of set at most).
_SET_LIMIT = 1 << 16
#: An array is merged into the one before it once that one is at most this many times larger: fewer
#: arrays to search per batch, against more re-sorting when merging.
_MERGE_RATIO = 4
#: Arrays are not merged past this many hashes (8 MB): a merge holds both arrays and their copy at once,
#: so a larger cap raises the push's peak memory by twice the largest array (docs/scaling.md has the
#: measurements). Five million rows end as about six arrays to search per batch, each a C-level
#: ``searchsorted``.
_MAX_RUN = 1 << 20

BatchSink = Callable[[list[dict[str, Any]], Sequence[int]], None]


class SeenEventIds:
    """The eventIds of one run, as 64-bit hashes: ``first_copies`` tells which of a batch are new."""

    def __init__(self) -> None:
        self._recent: set[int] = set()
        self._runs: list[Any] = []  # sorted numpy int64 arrays, largest first
        self._np: Any = None

    def __len__(self) -> int:
        return len(self._recent) + sum(int(run.size) for run in self._runs)

    def first_copies(self, event_ids: Sequence[str]) -> list[bool] | None:
        """For each id, whether this run sees it for the first time; ``None`` when all of them are new.

        All of them count as seen afterwards. The common batch (no repeats) takes set operations and one
        sorted ``searchsorted`` per array, no Python loop per id.
        """
        hashes = list(map(hash, event_ids))
        batch = set(hashes)
        recent = self._recent
        older = self._in_runs(hashes) if self._runs else None
        if len(batch) == len(hashes) and recent.isdisjoint(batch) and older is None:
            recent |= batch
            if len(recent) >= _SET_LIMIT:
                self._flush()
            return None
        first: list[bool] = []
        for position, value in enumerate(hashes):
            new = value not in recent and not (older is not None and older[position])
            if new:
                recent.add(value)
            first.append(new)
        if len(recent) >= _SET_LIMIT:
            self._flush()
        return first

    def _in_runs(self, hashes: list[int]) -> list[bool] | None:
        """Which hashes the sorted arrays hold; ``None`` when none of them does."""
        np = self._np
        wanted = np.fromiter(hashes, dtype=np.int64, count=len(hashes))
        order = np.argsort(wanted)
        needles = wanted[order]  # sorted needles walk each array in order: far fewer cache misses
        found = np.zeros(len(hashes), dtype=bool)
        for run in self._runs:
            at = np.searchsorted(run, needles).clip(max=run.size - 1)
            found |= run[at] == needles
        if not found.any():
            return None
        in_order = np.empty_like(found)
        in_order[order] = found
        return in_order.tolist()

    def _flush(self) -> None:
        if self._np is None:
            import numpy

            self._np = numpy
        np = self._np
        run = np.fromiter(self._recent, dtype=np.int64, count=len(self._recent))
        run.sort()
        self._recent = set()
        runs = self._runs
        runs.append(run)
        while (
            len(runs) > 1
            and runs[-2].size <= _MERGE_RATIO * runs[-1].size
            and runs[-2].size + runs[-1].size <= _MAX_RUN
        ):
            smaller = runs.pop()
            merged = np.concatenate((runs.pop(), smaller))
            merged.sort()  # in place; the arrays hold distinct hashes, so stability does not matter
            runs.append(merged)


class DuplicateFilter:
    """Sits in front of the batch sink: passes on each eventId's first copy, counts or refuses the rest."""

    def __init__(self, sink: BatchSink, *, fail: bool = False) -> None:
        self.sink = sink
        self.fail = fail
        self.seen = SeenEventIds()
        #: Rows left out because an earlier row of this run had the same eventId.
        self.duplicate_rows = 0

    def __call__(self, events: list[dict[str, Any]], rows: Sequence[int]) -> None:
        first = self.seen.first_copies([event["eventId"] for event in events])
        if first is None:
            self.sink(events, rows)
            return
        if self.fail:
            at = first.index(False)
            raise DuplicateRowError(rows[at], events[at]["eventId"])
        self.duplicate_rows += first.count(False)
        keep = [i for i, new in enumerate(first) if new]
        if keep:
            self.sink([events[i] for i in keep], [rows[i] for i in keep])


# ----------------------------------------------------------------------------------------------------
# The hot loop: source rows -> events or rejections -> batches of at most ``batch_size``.
#
# This loop runs once per row of a possibly million-row export, so it is written for speed: locals instead
# of attribute lookups, no per-row logging or function layers beyond the builder itself, no copies of rows
# or events. Progress is reported once per fetched chunk.


Batch = tuple[list[dict[str, Any]], list[int]]


class RowPipeline:
    """Turns chunks of rows into batches handed to ``sink``; counts rows read as it goes."""

    def __init__(
        self,
        rules: ConversionRuleGate,
        rejections: RejectionLog,
        progress: ProgressReporter,
        *,
        batch_size: int,
        batch_per_rule: bool = False,
        stop_on_invalid: bool = False,
        count_sent: Callable[[], int] = lambda: 0,
    ) -> None:
        self.rules = rules
        self.rejections = rejections
        self.progress = progress
        self.batch_size = batch_size
        self.batch_per_rule = batch_per_rule
        self.stop_on_invalid = stop_on_invalid
        self.count_sent = count_sent
        self.rows_read = 0

    def run(self, builder: EventBuilder, chunks: Iterable[Sequence[Any]], sink: BatchSink) -> None:
        """Build an event from each row of each chunk; hand full batches, then the rest, to ``sink``."""
        build = builder.build
        admitted = self.rules.admitted
        refusal = self.rules.refusal
        reject = self._reject
        size = self.batch_size
        rule_batches = RuleBatches(size) if self.batch_per_rule else None
        events: list[dict[str, Any]] = []
        rows: list[int] = []
        add_event = events.append
        add_row = rows.append
        row_no = self.rows_read
        for chunk in chunks:
            for row in chunk:
                row_no += 1
                event = build(row)
                if event.__class__ is not dict:
                    reject(row_no, event)
                    continue
                if event["conversion"] not in admitted:
                    refused = refusal(event)
                    if refused is not None:
                        reject(row_no, builder.locate(refused, row))
                        continue
                if rule_batches is not None:
                    full = rule_batches.add(event, row_no)
                    if full is not None:
                        self.rows_read = row_no
                        sink(*full)
                    continue
                add_event(event)
                add_row(row_no)
                if len(events) == size:
                    self.rows_read = row_no
                    sink(events, rows)
                    events, rows = [], []
                    add_event = events.append
                    add_row = rows.append
            self.rows_read = row_no
            self.progress.maybe_report(row_no, self.count_sent(), self.rejections.total)
        if events:
            sink(events, rows)
        if rule_batches is not None:
            for batch in rule_batches.drain():
                sink(*batch)

    def _reject(self, row_no: int, rejection: Rejection) -> None:
        self.rejections.record(row_no, rejection)
        if rejection.field == KEY_COLUMNS_FIELD and rejection.code == RejectionCode.INVALID_EVENT_ID:
            # A key column's type, not one row, is at fault: every later row would be refused (or, keyed
            # by something unstable, sent twice on a re-run). Stop at the first such row.
            self.rows_read = row_no
            raise KeyColumnError(row_no, rejection.message)
        if self.stop_on_invalid:
            self.rows_read = row_no
            raise InvalidRowError(row_no, rejection)


class RuleBatches:
    """One open batch per conversion rule, for ``batch_per_rule=True``: no batch mixes rules.

    Whether LinkedIn takes one batch naming several rules is UNKNOWN
    (docs/linkedin-contract.md §2.1.19), so users can keep them
    apart; the rows of each batch are then not consecutive, and the row numbers travel with the events.
    """

    def __init__(self, batch_size: int) -> None:
        self.batch_size = batch_size
        self._open: dict[str, Batch] = {}

    def add(self, event: dict[str, Any], row_no: int) -> Batch | None:
        """Add one event; the batch of its rule once that batch is full, else ``None``."""
        rule = event["conversion"]
        batch = self._open.get(rule)
        if batch is None:
            batch = self._open[rule] = ([], [])
        batch[0].append(event)
        batch[1].append(row_no)
        if len(batch[0]) < self.batch_size:
            return None
        del self._open[rule]
        return batch

    def drain(self) -> Iterator[Batch]:
        """The partly filled batches, each rule's once; afterwards nothing is open."""
        batches, self._open = self._open, {}
        yield from batches.values()


def batches_per_rule(
    batches: Iterable[tuple[list[dict[str, Any]], Sequence[int]]], batch_size: int
) -> Iterator[Batch]:
    """Regroup batches of mixed rules (a spool read back in row order) into batches of one rule each."""
    rule_batches = RuleBatches(batch_size)
    for events, rows in batches:
        for event, row_no in zip(events, rows, strict=True):
            full = rule_batches.add(event, row_no)
            if full is not None:
                yield full
    yield from rule_batches.drain()
