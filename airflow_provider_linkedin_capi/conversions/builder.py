"""One source row in, one LinkedIn event element (or one :class:`Rejection`) out.

This is the hot loop of every push: a million-row backfill calls :meth:`EventBuilder.build` a million
times, so everything that depends only on the query's columns and the settings (column positions,
the default rule URN, the time window, lookup tables) is worked out once in ``__init__`` and captured
in one compiled per-row function. The common value shapes (strings, ints, floats, epoch-ms times) are
handled inline; everything unusual goes through the small modules next to this one, which hold the
rules and their reasons.

Checks run in this order, and the first failure decides the rejection code: conversion rule,
``conversionHappenedAt``, the row's own ``eventId``, e-mail (``email``, else ``sha256_email``),
the other user ids in contract order, the names (``userInfo``), ``externalIds`` and ``lead``, whether
any identifier is left, ``countryCode`` (only when ``userInfo`` is sent), then ``amount`` and
``currencyCode``.

Decisions where the contract is silent:

- ``email`` wins over ``sha256_email`` when both are non-empty: a hash made here is certainly
  normalised (trimmed, lower-cased), one made upstream may not be, and an unnormalised hash silently
  matches nobody (docs/linkedin-contract.md §2.1.11). ``sha256_email`` is then neither checked nor sent.
- ``userInfo`` is sent only with both names (LinkedIn 422s otherwise). ``companyName``, ``title`` and
  ``countryCode`` ride along only then; without names they identify nobody and are ignored, unchecked.
  One name alone rejects the row as ``incomplete_user_info`` unless another identifier carries it, in
  which case the half name is dropped. Names are sent trimmed, otherwise as written (LinkedIn matches
  plaintext names itself).
- A value that cannot be read as text at all (a list in ``firstName``, a date in ``li_fat_id``) rejects
  the row with the field's code (``incomplete_user_info`` for names, company and title;
  ``no_identifier`` for li_fat_id, acxiom_id, oracle_moat_id, externalIds and lead, which have no
  code of their own).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from operator import itemgetter
from typing import Any, NamedTuple

from airflow_provider_linkedin_capi.conversions.columns import ColumnPlan, plan_columns
from airflow_provider_linkedin_capi.conversions.event_ids import (
    MAX_EVENT_ID_LENGTH,
    KeyEventIds,
    content_event_id,
    key_event_id,
    key_text,
    row_event_id,
    too_long,
)
from airflow_provider_linkedin_capi.conversions.identifiers import (
    checked_sha256,
    country_code,
    email_sha256,
    first_external_id,
    google_aid,
    hashed_ipv4_address,
    ipv4_address,
    lead_urn,
    plain_text_id,
    sha256_ip_address,
    text_or_reject,
)
from airflow_provider_linkedin_capi.conversions.money import amount_text, currency_code
from airflow_provider_linkedin_capi.conversions.rejections import (
    MAX_KEY_LENGTH,
    QUOTABLE_FIELDS,
    WITHHELD,
    Rejection,
    RejectionCode,
    RowRejected,
    quoted,
    quoted_value,
)
from airflow_provider_linkedin_capi.conversions.settings import ConversionSettings
from airflow_provider_linkedin_capi.conversions.timestamps import TimestampReader
from airflow_provider_linkedin_capi.conversions.values import to_text
from airflow_provider_linkedin_capi.urns import conversion_rule_urn

#: userIds sources in the order they are sent: contract column -> (idType, reader of one value).
_OTHER_USER_IDS: tuple[tuple[str, str, Callable[[Any], str]], ...] = (
    (
        "linkedin_first_party_ads_tracking_uuid",
        "LINKEDIN_FIRST_PARTY_ADS_TRACKING_UUID",
        plain_text_id("linkedin_first_party_ads_tracking_uuid"),
    ),
    ("acxiom_id", "ACXIOM_ID", plain_text_id("acxiom_id")),
    ("oracle_moat_id", "ORACLE_MOAT_ID", plain_text_id("oracle_moat_id")),
    ("ip_address", "PLAINTEXT_IP_ADDRESS", ipv4_address),
    ("sha256_ip_address", "SHA256_IP_ADDRESS", sha256_ip_address),
    ("google_aid", "GOOGLE_AID", google_aid),
)
#: Every ``idType`` an event may carry, and every kind of identifier an event may match on: the ``idType``
#: values, the ``userInfo`` names, ``externalIds`` and ``lead`` (a push counts events per kind).
USER_ID_TYPES = ("SHA256_EMAIL", *dict.fromkeys(id_type for _, id_type, _ in _OTHER_USER_IDS))
IDENTIFIER_KINDS = (*USER_ID_TYPES, "userInfo", "externalIds", "lead")
IDENTIFIER_COLUMNS = (
    "email",
    "sha256_email",
    *(column for column, _, _ in _OTHER_USER_IDS),
    "firstName",
    "lastName",
    "externalIds",
    "lead",
)
# Memo tables (raw value -> normalised value) stop growing here: a column of unique junk cannot eat memory.
_MEMO_LIMIT = 4096


class EventBuilder:
    """Turns rows of one query into LinkedIn event elements; build it once per query, call it per row.

    :param columns: the query's column names, in cursor order (``[d[0] for d in cursor.description]``).
    :param settings: the user's :class:`ConversionSettings`.
    :raises ValueError: for configuration mistakes that would reject every row: an unknown or
        ambiguous column in ``column_map`` or ``key_columns``, a malformed ``conversion_rule_id``, no
        rule at all (neither the setting nor a ``conversion`` column), no ``conversionHappenedAt``
        column, or no identifier column.
    """

    def __init__(self, columns: Sequence[str], settings: ConversionSettings) -> None:
        if not isinstance(settings, ConversionSettings):
            raise ValueError(f"settings must be a ConversionSettings, got {type(settings).__name__}")
        self.columns: tuple[str, ...] = tuple(str(column) for column in columns)
        self.settings = settings
        plan = plan_columns(self.columns, settings.column_map, settings.key_columns)
        #: Source columns that feed no contract field and no key (the operator logs them once).
        self.ignored_columns: tuple[str, ...] = plan.ignored_columns
        #: Contract field -> the source column that feeds it.
        self.source_columns: Mapping[str, str] = dict(plan.source_of)

        default_rule = None
        if settings.conversion_rule_id is not None and str(settings.conversion_rule_id).strip():
            try:
                default_rule = conversion_rule_urn(settings.conversion_rule_id)
            except ValueError as error:
                raise ValueError(f"conversion_rule_id: {error}") from None
        if default_rule is None and "conversion" not in plan.index:
            raise ValueError(
                "no conversion rule: set conversion_rule_id or return a `conversion` column from the query"
            )
        if "conversionHappenedAt" not in plan.index:
            raise ValueError(
                "the query returns no conversionHappenedAt column (name it so, or map it with column_map)"
            )
        if not any(column in plan.index for column in IDENTIFIER_COLUMNS):
            raise ValueError(
                "the query returns no identifier column; LinkedIn needs at least one of "
                + ", ".join(IDENTIFIER_COLUMNS)
            )
        self.default_rule_urn = default_rule
        self.now = settings.now or datetime.now(UTC)
        self.timestamps = TimestampReader(
            unit=settings.timestamp_unit,
            zone=settings.zone(),
            now=self.now,
            max_age_days=settings.max_event_age_days,
            safety_margin_hours=settings.event_age_safety_margin_hours,
            future_skew_seconds=settings.max_future_skew_seconds,
        )
        self._lower_columns = tuple(column.strip().lower() for column in self.columns)
        #: ``userIds`` types settings.api_version does not accept, each with the span that says so.
        self.refused_id_types = settings.refused_id_types()
        #: Whether ``ip_address`` goes hashed, as SHA256_IP_ADDRESS (asked for, and the version takes it).
        self.hashes_ip_address = settings.hash_ip_address and "SHA256_IP_ADDRESS" not in self.refused_id_types
        #: Events sent without an identifier type the version refuses: idType -> events (see build).
        self.dropped_id_types: Counter[str] = Counter()
        # The compiled per-row function shadows the ``build`` method on this instance, saving one Python
        # call per row; the method below only documents it.
        identifiers = self._identifier_plan(plan)
        self._where = _rejects_locator(plan)
        self.build = _compile_row_builder(  # type: ignore[method-assign]
            plan, default_rule, self.timestamps, identifiers, self.dropped_id_types, self._where
        )
        #: The identifier kinds (``IDENTIFIER_KINDS``) this query's columns can put in an event.
        self.possible_kinds: frozenset[str] = _possible_kinds(plan, identifiers)

    def _identifier_plan(self, plan: ColumnPlan) -> _IdentifierPlan:
        """Which ``userIds`` columns are sent (and as which type), and which the version refuses."""
        if self.hashes_ip_address and "sha256_ip_address" in plan.index:
            raise ValueError(
                "hash_ip_address would send ip_address as SHA256_IP_ADDRESS, which the sha256_ip_address "
                "column fills too: use one of them"
            )
        sent: list[tuple[int, str, Callable[[Any], str]]] = []
        refused: list[tuple[int, str, str, str]] = []
        for column, id_type, read in _OTHER_USER_IDS:
            if column not in plan.index:
                continue
            if column == "ip_address" and self.hashes_ip_address:
                id_type, read = "SHA256_IP_ADDRESS", hashed_ipv4_address
            if id_type in self.refused_id_types:
                refused.append((plan.index[column], id_type, column, self.refused_id_types[id_type].label))
            else:
                sent.append((plan.index[column], id_type, read))
        return _IdentifierPlan(tuple(sent), tuple(refused), self.settings.api_version)

    def locate(self, rejection: Rejection, row: Sequence[Any]) -> Rejection:
        """``rejection`` of ``row`` (made after the row became an event) with the row's key column values
        and its offending value, as a rejects line may show them."""
        keys, value = self._where(row, rejection.field)
        return rejection._replace(keys=keys, value=value)

    def build(self, row: Sequence[Any]) -> dict[str, Any] | Rejection:
        """The event element for ``row`` (positional, in ``columns`` order), or why it cannot be sent.

        Never raises for any value in the row; a row shorter than ``columns`` is a programming error
        (IndexError).
        """
        raise NotImplementedError  # replaced per instance in __init__


def event_summary_fields(event: Mapping[str, Any]) -> dict[str, str | None]:
    """``event_id`` and ``sha256_email`` of a built event, as :class:`Rejection` takes them.

    For the rows LinkedIn itself refuses: ``Rejection(RejectionCode.REJECTED_BY_LINKEDIN, field,
    message, **event_summary_fields(event))`` explains them without the raw identifiers.
    """
    sha256_email = None
    user = event.get("user")
    if isinstance(user, Mapping):
        for user_id in user.get("userIds") or ():
            if isinstance(user_id, Mapping) and user_id.get("idType") == "SHA256_EMAIL":
                sha256_email = user_id.get("idValue")
                break
    event_id = event.get("eventId")
    return {"event_id": event_id if isinstance(event_id, str) else None, "sha256_email": sha256_email}


def _rule_resolver(default_rule: str | None) -> Callable[[Any], str]:
    """Per-row ``conversion`` value -> rule URN, memoised: a push names a handful of distinct rules."""
    memo: dict[Any, str] = {}

    def resolve(value: Any) -> str:
        cls = value.__class__
        if cls is str or cls is int:
            urn = memo.get(value)
            if urn is not None:
                return urn
        text = text_or_reject(value, RejectionCode.MISSING_CONVERSION_RULE, "conversion")
        if not text:
            if default_rule is not None:
                return default_rule
            raise RowRejected(
                RejectionCode.MISSING_CONVERSION_RULE,
                "conversion",
                "the row has no conversion rule and no conversion_rule_id is set",
            )
        try:
            urn = conversion_rule_urn(text)
        except ValueError:
            raise RowRejected(
                RejectionCode.MISSING_CONVERSION_RULE,
                "conversion",
                "conversion is neither a numeric rule id nor an urn:lla:llaPartnerConversion:<id> URN",
            ) from None
        if (cls is str or cls is int) and len(memo) < _MEMO_LIMIT:
            memo[value] = urn
        return urn

    return resolve


class _IdentifierPlan(NamedTuple):
    """``userIds`` columns sent (position, idType, reader), and those the version refuses (position,
    idType, column, how it is known): a refused one is left out of the event, or rejects a row it is the
    only identifier of."""

    sent: tuple[tuple[int, str, Callable[[Any], str]], ...]
    refused: tuple[tuple[int, str, str, str], ...]
    api_version: str | None


def _compile_row_builder(
    plan: ColumnPlan,
    default_rule: str | None,
    timestamps: TimestampReader,
    identifiers: _IdentifierPlan,
    dropped_id_types: Counter[str],
    where: Callable[[Sequence[Any], str | None], tuple[dict[str, str | None] | None, str | None]],
) -> Callable[[Sequence[Any]], dict[str, Any] | Rejection]:
    index = plan.index.get
    i_rule = index("conversion")
    i_time = index("conversionHappenedAt")
    i_event_id = index("eventId")
    i_email = index("email")
    i_sha256 = index("sha256_email")
    i_first = index("firstName")
    i_last = index("lastName")
    i_company = index("companyName")
    i_title = index("title")
    i_country = index("countryCode")
    i_external = index("externalIds")
    i_lead = index("lead")
    i_currency = index("currencyCode")
    i_amount = index("amount")
    key_indexes = plan.key_indexes
    read_keys = _tuple_getter(key_indexes)
    other_ids = identifiers.sent
    refused_ids = identifiers.refused
    has_names = i_first is not None or i_last is not None
    has_info_extras = i_company is not None or i_title is not None or i_country is not None

    resolve_rule = _rule_resolver(default_rule) if i_rule is not None else None
    read_time = timestamps.read
    wall_time_ms = timestamps.wall_time_ms if timestamps.fixed_offset else None
    earliest_ms, latest_ms = timestamps.earliest_ms, timestamps.latest_ms
    ints_are_ms = timestamps.unit in ("auto", "ms")  # in-window ints are then always milliseconds
    derive_key_event_id = KeyEventIds().derive
    # Raw text -> normalised text for the columns whose values repeat across a CRM (currencies,
    # countries, names, companies, titles): one dict lookup instead of the text rules on every row.
    currency_memo: dict[str, str] = {}
    country_memo: dict[str, str] = {}
    name_memo: dict[str, str] = {}

    def name(value: Any, field: str) -> str:
        if value.__class__ is str:
            text = name_memo.get(value)
            if text is not None:
                return text
            text = value.strip()
            if not text.isascii():
                text = text_or_reject(text, RejectionCode.INCOMPLETE_USER_INFO, field)
            if len(name_memo) < _MEMO_LIMIT:
                name_memo[value] = text
            return text
        return text_or_reject(value, RejectionCode.INCOMPLETE_USER_INFO, field)

    def country(value: Any) -> str:
        if value.__class__ is str:
            code = country_memo.get(value)
            if code is None:
                code = country_code(value)
                if len(country_memo) < _MEMO_LIMIT:
                    country_memo[value] = code
            return code
        return country_code(value)

    def user_info_extras(row: Sequence[Any], info: dict[str, str]) -> None:
        if i_company is not None:
            company = name(row[i_company], "companyName")
            if company:
                info["companyName"] = company
        if i_title is not None:
            title = name(row[i_title], "title")
            if title:
                info["title"] = title
        if i_country is not None and (value := row[i_country]) is not None:
            code = country(value)
            if code:
                info["countryCode"] = code

    def refused_in(row: Sequence[Any]) -> list[tuple[str, str, str]]:
        """(idType, column, label) of the refused identifier columns this row has a value in."""
        return [
            (id_type, column, label)
            for position, id_type, column, label in refused_ids
            if to_text_or_empty(row[position]).strip()
        ]

    def no_identifier(first: str, last: str, row: Sequence[Any]) -> RowRejected:
        if refused_ids and (refused := refused_in(row)):
            id_type, column, label = refused[0]
            return RowRejected(
                RejectionCode.UNSUPPORTED_IN_API_VERSION,
                column,
                f"{column} is the row's only identifier, and LinkedIn-Version {identifiers.api_version} does "
                f"not take {id_type} ({label}; the connection extra identifier_versions overrides it)",
            )
        if first or last:
            missing = "lastName" if first else "firstName"
            return RowRejected(
                RejectionCode.INCOMPLETE_USER_INFO,
                missing,
                f"{missing} is empty: LinkedIn needs both names to match on userInfo, "
                "and the row has no other identifier",
            )
        message = "the row has no identifier (no e-mail, user id, full name, externalIds or lead)"
        if i_lead is not None and to_text_or_empty(row[i_lead]):
            message += "; its lead is not a urn:li:leadGenFormResponse URN or id"
        return RowRejected(RejectionCode.NO_IDENTIFIER, None, message)

    def rejection(row: Sequence[Any], rejected: RowRejected) -> Rejection:
        return Rejection(
            rejected.code,
            rejected.field,
            rejected.message,
            _known_event_id(row),
            _known_sha256_email(row),
            *where(row, rejected.field),
        )

    def _known_event_id(row: Sequence[Any]) -> str | None:
        try:
            if i_event_id is not None:
                event_id = row_event_id(row[i_event_id])
                if event_id:
                    return event_id
            if key_indexes:
                rule = default_rule if resolve_rule is None else resolve_rule(row[i_rule])
                return key_event_id(rule, read_keys(row))
        except RowRejected:
            pass
        return None

    def _known_sha256_email(row: Sequence[Any]) -> str | None:
        try:
            if i_email is not None:
                text = text_or_reject(row[i_email], RejectionCode.INVALID_EMAIL, "email")
                if text:
                    return email_sha256(text)
            if i_sha256 is not None:
                text = text_or_reject(row[i_sha256], RejectionCode.INVALID_HASH, "sha256_email")
                if text:
                    return checked_sha256(text)
        except RowRejected:
            pass
        return None

    def build(row: Sequence[Any]) -> dict[str, Any] | Rejection:
        try:
            # Conversion rule.
            rule = default_rule if resolve_rule is None else resolve_rule(row[i_rule])

            # conversionHappenedAt: an in-window int is epoch ms already (the common case).
            value = row[i_time]
            if value.__class__ is int and ints_are_ms and earliest_ms <= value <= latest_ms:
                happened_at = value
            elif (
                value.__class__ is str
                and wall_time_ms is not None
                and (happened_at := wall_time_ms(value)) is not None  # type: ignore[assignment]
                and earliest_ms <= happened_at <= latest_ms
            ):
                pass
            else:
                happened_at = read_time(value)

            # The row's own eventId.
            event_id = ""
            if i_event_id is not None:
                value = row[i_event_id]
                if value.__class__ is str and value.isascii():
                    event_id = value.strip()
                    if len(event_id) > MAX_EVENT_ID_LENGTH:
                        raise too_long()
                elif value is not None:
                    event_id = row_event_id(value)

            # userIds.
            user_ids: list[dict[str, str]] = []
            email_hash = ""
            if i_email is not None:
                value = row[i_email]
                if value.__class__ is str:
                    text = value.strip()
                elif value is None:
                    text = ""
                else:
                    text = text_or_reject(value, RejectionCode.INVALID_EMAIL, "email")
                if text:
                    email_hash = email_sha256(text)
            if not email_hash and i_sha256 is not None:
                text = text_or_reject(row[i_sha256], RejectionCode.INVALID_HASH, "sha256_email")
                if text:
                    email_hash = checked_sha256(text)
            if email_hash:
                user_ids.append({"idType": "SHA256_EMAIL", "idValue": email_hash})
            if other_ids:
                for position, id_type, read in other_ids:
                    value = row[position]
                    if value is not None:
                        text = read(value)
                        if text:
                            user_ids.append({"idType": id_type, "idValue": text})
            user: dict[str, Any] = {"userIds": user_ids}

            # userInfo needs both names.
            first = last = ""
            if has_names:
                if i_first is not None and (value := row[i_first]) is not None:
                    first = name(value, "firstName")
                if i_last is not None and (value := row[i_last]) is not None:
                    last = name(value, "lastName")
            if i_external is not None and (value := row[i_external]) is not None:
                external_id = first_external_id(value)
                if external_id:
                    user["externalIds"] = [external_id]
            if i_lead is not None and (value := row[i_lead]) is not None:
                lead = lead_urn(value)
                if lead:
                    user["lead"] = lead
            if first and last:
                info = {"firstName": first, "lastName": last}
                if has_info_extras:
                    user_info_extras(row, info)
                user["userInfo"] = info
            elif not user_ids and len(user) == 1:
                raise no_identifier(first, last, row)
            if refused_ids:
                dropped_id_types.update(id_type for id_type, _, _ in refused_in(row))

            event: dict[str, Any] = {"conversion": rule, "conversionHappenedAt": happened_at}

            # conversionValue: only with an amount; then the currency must be valid.
            conversion_value = None
            if i_amount is not None and (value := row[i_amount]) is not None:
                amount = amount_text(value)
                if amount:
                    raw_currency = None if i_currency is None else row[i_currency]
                    if raw_currency.__class__ is str and raw_currency in currency_memo:
                        currency = currency_memo[raw_currency]
                    else:
                        currency = currency_code(raw_currency)
                        if raw_currency.__class__ is str and len(currency_memo) < _MEMO_LIMIT:
                            currency_memo[raw_currency] = currency
                    conversion_value = {"currencyCode": currency, "amount": amount}
                    event["conversionValue"] = conversion_value

            if not event_id and key_indexes:
                event_id = derive_key_event_id(rule, read_keys(row)) or ""
            if not event_id:
                event_id = content_event_id(rule, happened_at, user, conversion_value)
            event["eventId"] = event_id
            event["user"] = user
            return event
        except RowRejected as rejected:
            return rejection(row, rejected)

    return build


def _possible_kinds(plan: ColumnPlan, identifiers: _IdentifierPlan) -> frozenset[str]:
    kinds = {id_type for _, id_type, _ in identifiers.sent}
    if "email" in plan.index or "sha256_email" in plan.index:
        kinds.add("SHA256_EMAIL")
    if "firstName" in plan.index and "lastName" in plan.index:
        kinds.add("userInfo")
    kinds.update(kind for kind in ("externalIds", "lead") if kind in plan.index)
    return frozenset(kinds)


def _rejects_locator(
    plan: ColumnPlan,
) -> Callable[[Sequence[Any], str | None], tuple[dict[str, str | None] | None, str | None]]:
    """``(row, field at fault) -> (key column values, offending value)``, as a rejects line shows them.

    Keys are None without key columns; a key column that also feeds an identifier or a name
    (``key_columns=["email"]``) is withheld, and so is any value that looks like an e-mail or IP address.
    The offending value is quoted only for the non-personal fields (:data:`QUOTABLE_FIELDS`).
    """
    personal = {plan.index[column] for column in IDENTIFIER_COLUMNS if column in plan.index}
    keys = tuple(zip(plan.key_names, plan.key_indexes, strict=True))
    quotable = {field: plan.index[field] for field in QUOTABLE_FIELDS if field in plan.index}

    def key_values(row: Sequence[Any]) -> dict[str, str | None]:
        found: dict[str, str | None] = {}
        for name, position in keys:
            if position in personal:
                found[name] = WITHHELD
                continue
            try:
                found[name] = quoted(key_text(row[position]), MAX_KEY_LENGTH)
            except RowRejected:  # a value no eventId can be derived from: described, not shown
                found[name] = f"({type(row[position]).__name__})"
        return found

    def locate(row: Sequence[Any], field: str | None) -> tuple[dict[str, str | None] | None, str | None]:
        position = quotable.get(field) if field is not None else None
        return (key_values(row) if keys else None), (
            None if position is None else quoted_value(row[position])
        )

    return locate


def _tuple_getter(positions: tuple[int, ...]) -> Callable[[Sequence[Any]], Sequence[Any]]:
    """``row -> (row[p] for p in positions)`` as a tuple, in C (itemgetter) instead of a comprehension."""
    if len(positions) == 1:
        (position,) = positions
        return lambda row: (row[position],)
    return itemgetter(*positions) if positions else lambda row: ()


def to_text_or_empty(value: Any) -> str:
    """Text of ``value``, ``""`` when absent or not text: for messages that only need to know "was set"."""
    try:
        return to_text(value)
    except ValueError:
        return ""
