"""Which source column feeds which contract field, decided once per query from its column names.

The contract names are LinkedIn's own field names (README "The column contract"), so a query written against
LinkedIn's docs needs no mapping. Matching is case-insensitive because PostgreSQL folds unquoted
identifiers (``SELECT ... AS firstName`` arrives as ``firstname``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

#: Every contract column, in LinkedIn's spelling.
CONTRACT_COLUMNS = (
    "conversion",
    "conversionHappenedAt",
    "eventId",
    "email",
    "sha256_email",
    "linkedin_first_party_ads_tracking_uuid",
    "acxiom_id",
    "oracle_moat_id",
    "ip_address",
    "sha256_ip_address",
    "google_aid",
    "firstName",
    "lastName",
    "companyName",
    "title",
    "countryCode",
    "lead",
    "externalIds",
    "currencyCode",
    "amount",
)

#: Other names a source column may carry for a contract column (lower-case).
ALIASES = {"li_fat_id": "linkedin_first_party_ads_tracking_uuid"}

_BY_LOWER_NAME = {name.lower(): name for name in CONTRACT_COLUMNS} | ALIASES


def contract_name(name: str) -> str | None:
    """The contract column ``name`` stands for (case-insensitive, aliases included), or ``None``."""
    return _BY_LOWER_NAME.get(str(name).strip().lower())


@dataclass(frozen=True)
class ColumnPlan:
    """Positions in the source row: ``index[contract name]``, plus the key columns' positions."""

    index: Mapping[str, int]
    key_indexes: tuple[int, ...] = ()
    #: The key columns' names as the query returns them, in ``key_indexes`` order.
    key_names: tuple[str, ...] = ()
    ignored_columns: tuple[str, ...] = field(default=())
    source_of: Mapping[str, str] = field(default_factory=dict)


def plan_columns(
    columns: Sequence[str],
    column_map: Mapping[str, str] | None = None,
    key_columns: Sequence[str] | None = None,
) -> ColumnPlan:
    """Resolve the query's column names against the contract; ValueError on any configuration mistake.

    Rules, in order:

    - a ``column_map`` entry maps a source column to a contract column (or alias); the source column
      must exist in ``columns`` and the target must be a contract column;
    - any other source column whose name is a contract name or alias feeds that field;
    - an explicit mapping beats a same-named column (``{"work_email": "email"}`` with an ``email``
      column too: ``work_email`` is used, ``email`` is ignored);
    - two columns feeding one field without such a tie-break is an error, never a silent choice;
    - the remaining columns are ``ignored_columns``, except key columns, which are used for eventIds.
    """
    names = [str(column) for column in columns]
    lowered = [name.strip().lower() for name in names]
    positions: dict[str, list[int]] = {}
    for position, name in enumerate(lowered):
        positions.setdefault(name, []).append(position)

    explicit: dict[str, int] = {}
    for source, target in (column_map or {}).items():
        target_name = contract_name(target)
        if target_name is None:
            raise ValueError(
                f"column_map maps {source!r} to {target!r}, which is not a contract column; "
                f"known columns: {', '.join(CONTRACT_COLUMNS)} (alias li_fat_id)"
            )
        found = positions.get(str(source).strip().lower(), [])
        if not found:
            raise ValueError(f"column_map names column {source!r}, which the query does not return")
        if len(found) > 1:
            raise ValueError(f"column_map names column {source!r}, which the query returns more than once")
        if target_name in explicit:
            raise ValueError(f"column_map maps two columns to {target_name!r}")
        explicit[target_name] = found[0]

    mapped_positions = set(explicit.values())
    implicit: dict[str, list[int]] = {}
    for position, name in enumerate(lowered):
        target_name = _BY_LOWER_NAME.get(name)
        if target_name is None or position in mapped_positions or target_name in explicit:
            continue
        implicit.setdefault(target_name, []).append(position)
    for target_name, found in implicit.items():
        if len(found) > 1:
            clashing = ", ".join(repr(names[position]) for position in found)
            raise ValueError(
                f"columns {clashing} all feed {target_name!r}; rename or drop all but one, "
                "or pick one with column_map"
            )

    index = dict(explicit)
    index.update({target_name: found[0] for target_name, found in implicit.items()})

    key_indexes: list[int] = []
    for key in key_columns or ():
        found = positions.get(str(key).strip().lower(), [])
        if not found:
            raise ValueError(f"key_columns names column {key!r}, which the query does not return")
        if len(found) > 1:
            raise ValueError(f"key_columns names column {key!r}, which the query returns more than once")
        key_indexes.append(found[0])
    if len(set(key_indexes)) != len(key_indexes):
        raise ValueError("key_columns names the same column twice")

    used = set(index.values()) | set(key_indexes)
    ignored = tuple(name for position, name in enumerate(names) if position not in used)
    source_of = {target_name: names[position] for target_name, position in index.items()}
    return ColumnPlan(
        index=index,
        key_indexes=tuple(key_indexes),
        key_names=tuple(names[position] for position in key_indexes),
        ignored_columns=ignored,
        source_of=source_of,
    )
