"""What a target accepts: header checks before a load, reject limits during it, and a last
check before the commit. Every refusal is a `PolicyError` that names the file and the
columns or the first rejected line; the load's transaction then rolls back, so a file
that ends `failed` leaves its target exactly as it was.

Per folder rule (see the README's "Bad input" section):

- `on_error`: `continue` (load the good rows), `skip_file` (fail the file when more than
  `max_rejects` rows, or more than `max_reject_percent` % of its rows, are rejected; with
  neither set, any reject), `abort` (fail on the first reject);
- `required_columns` and `key_columns` must be in the header; `new_columns` (`add`,
  `ignore`, `fail`) decides what an append or a merge does with columns its table lacks;
  `duplicate_columns` (`rename`, `fail`) what happens to repeated header names;
- a `fullload` never replaces its table with an empty one.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from monitor.backends import Backend
from monitor.catalog import LOAD_ID_COLUMN
from monitor.config import FolderRule
from monitor.load.read.column_types import RowPlan, column_types, match_column, resolve_specs
from monitor.load.read.naming import normalise_name
from monitor.load.read.records import Reject, RowShaper
from monitor.load.read.rejects import RejectSink
from monitor.load.read.shape import check_shape
from monitor.source import SourceError

SHOWN_NAMES = 20
GROWING_MODES = ("append", "merge")  # modes that load into the table as it is (not a new one)


class PolicyError(SourceError):
    """The file breaks a rule of its target; the message says which and where."""


def _names(names: list[str]) -> str:
    shown = ", ".join(names[:SHOWN_NAMES])
    return shown + (f", ... ({len(names)} in all)" if len(names) > SHOWN_NAMES else "")


@dataclass
class HeaderPlan:
    """What a header check decided: the columns loaded, the fields kept (None: all of them),
    the key columns, and warnings to record with the load."""

    columns: list[str]
    keep: list[int] | None = None
    keys: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def check_header(
    name: str, header: list[str], columns: list[str], rule: FolderRule, existing: list[str] | None, target: str
) -> HeaderPlan:
    """Check a file's header against its rule and, for an append, the target's current
    columns (`existing`, None when the table does not exist yet)."""
    plan = HeaderPlan(list(columns))
    _duplicates(name, header, columns, rule, plan)
    wanted = list(dict.fromkeys([*rule.required_columns, *rule.key_columns]))
    missing = [key for key in wanted if match_column(key, header, columns) is None]
    if missing:
        raise PolicyError(
            f"{name}: missing required columns: {_names(missing)} (the header has: {_names(header)})"
        )
    plan.keys = [match_column(key, header, columns) or key for key in rule.key_columns]
    if existing is not None and rule.mode in GROWING_MODES:
        _new_columns(name, columns, rule, set(existing), target, plan)
    return plan


def _duplicates(name: str, header: list[str], columns: list[str], rule: FolderRule, plan: HeaderPlan) -> None:
    groups: defaultdict[str, list[int]] = defaultdict(list)
    for position, raw in enumerate(header):
        groups[normalise_name(raw, position + 1)].append(position)
    repeated = [positions for positions in groups.values() if len(positions) > 1]
    if not repeated:
        return
    text = "; ".join(
        " and ".join(f"{header[i].strip()!r} (column {i + 1})" for i in positions)
        + " loaded as " + ", ".join(columns[i] for i in positions)
        for positions in repeated
    )
    if rule.duplicate_columns == "fail":
        raise PolicyError(f"{name}: duplicate column names: {text.replace(' loaded as ', ' would load as ')}")
    plan.warnings.append(f"duplicate column names: {text}")


def _new_columns(
    name: str, columns: list[str], rule: FolderRule, present: set[str], target: str, plan: HeaderPlan
) -> None:
    new = [column for column in columns if column not in present]
    if not new or rule.new_columns == "add":
        return
    if rule.new_columns == "fail":
        raise PolicyError(f"{name}: new columns not in {target}: {_names(new)} (new_columns is fail)")
    plan.keep = [i for i, column in enumerate(columns) if column in present]
    if not plan.keep:
        raise PolicyError(f"{name}: no column of the file is in {target} (new columns: {_names(new)})")
    plan.columns = [columns[i] for i in plan.keep]
    plan.warnings.append(f"new columns ignored: {_names(new)}")


def check_width(name: str, columns: list[str], existing: list[str] | None, backend: Backend, target: str) -> None:
    """Refuse a file whose table would have more columns than the database allows (the
    lineage column `_load_id` included), before the database is asked."""
    if existing is None:
        width, what = len(columns) + 1, f"{len(columns):,} columns"
    else:
        new = set(columns) - set(existing)
        width, what = len(existing) + len(new), f"{len(new):,} new columns for {target}, which has {len(existing):,}"
    if width > backend.max_columns:
        raise PolicyError(
            f"{name}: {what}: {width:,} in all with {LOAD_ID_COLUMN}, more than the {backend.max_columns:,} columns "
            f"{backend.label} allows in a table: not loaded")


class RejectPolicy:
    """Applies `on_error` as rejects arrive and once more before the commit."""

    def __init__(self, rule: FolderRule, name: str, target: str) -> None:
        self.rule, self.name, self.target = rule, name, target
        self.limit: int | None = None
        if rule.on_error == "skip_file":
            self.limit = rule.max_rejects if rule.max_rejects is not None else (
                0 if rule.max_reject_percent is None else None)

    def take(self, sink: RejectSink, items: list[Reject]) -> None:
        """Record rejects one by one, failing as soon as the rule is broken (so `abort`
        records exactly the first reject, `skip_file` one more than it allows)."""
        for item in items:
            sink.add((item,))
            self.check(sink.count, sink.first)

    def check(self, rejected: int, first: Reject | None) -> None:
        """Raise as soon as the rejects so far break the rule."""
        if not rejected or first is None:
            return
        if self.rule.on_error == "abort":
            raise PolicyError(f"{self.name}: line {first.line}: {first.reason} (on_error is abort: nothing loaded)")
        if self.limit is not None and rejected > self.limit:
            raise PolicyError(
                f"{self.name}: more than {self.limit} rows rejected (on_error is skip_file, max_rejects "
                f"{self.limit}): nothing loaded; first: line {first.line}: {first.reason}"
            )

    def finish(self, loaded: int, rejected: int, first: Reject | None) -> None:
        """The checks that need the whole file: the reject share, and no empty fullload."""
        self.check_share(loaded, rejected, first)
        self.check_not_empty(loaded, rejected)

    def check_share(self, loaded: int, rejected: int, first: Reject | None) -> None:
        """`skip_file` with `max_reject_percent`: the share of the file's rows rejected."""
        percent = self.rule.max_reject_percent
        if self.rule.on_error == "skip_file" and percent is not None and rejected:
            share = 100.0 * rejected / (loaded + rejected)
            if share > percent:
                where = f"; first: line {first.line}: {first.reason}" if first else ""
                raise PolicyError(
                    f"{self.name}: {rejected} of {loaded + rejected} rows rejected ({share:.1f}%, more than "
                    f"max_reject_percent {percent:g}; on_error is skip_file): nothing loaded{where}"
                )

    def check_not_empty(self, loaded: int, rejected: int) -> None:
        """A fullload never replaces its table with an empty one."""
        if self.rule.mode == "fullload" and loaded == 0:
            why = f"all {rejected} rows were rejected" if rejected else "the file has no data rows"
            raise PolicyError(f"{self.name}: refusing to replace {self.target} with an empty table: {why}")



@dataclass
class LoadPlan:
    """How a file's records become rows: the columns loaded, their declared types, the
    shaping applied to each record (None: records load as read), warnings for the audit, the
    key columns, and whether the shaping does nothing but refuse empty keys."""

    columns: list[str]
    types: dict[str, str]
    shape: RowShaper | None
    note: str | None
    keys: list[str] = field(default_factory=list)
    keys_only: bool = False  # the shaping only refuses empty keys


def plan_load(
    name: str, header: list[str], columns: list[str], rule: FolderRule, backend: Backend, schema: str, table: str
) -> LoadPlan:
    """Check the header against the rule and the target, and build the row shaping."""
    existing = None
    with backend.reading() as conn:
        if backend.table_exists(conn, schema, table):
            existing = backend.columns_of(conn, schema, table)
    checked = check_header(name, header, columns, rule, existing, f"{schema}.{table}")
    checked.warnings.extend(check_shape(name, checked.columns, existing, rule, f"{schema}.{table}"))
    check_width(name, checked.columns, None if rule.mode == "fullload" else existing, backend, f"{schema}.{table}")
    specs = resolve_specs(header, columns, rule.columns)
    shape = RowPlan(columns, specs, checked.keys, rule.null_values, checked.keep, rule.key_normalise)
    types = {column: kind for column, kind in column_types(specs).items() if column in checked.columns}
    note = "; ".join(f"warning: {warning}" for warning in checked.warnings) or None
    return LoadPlan(checked.columns, types, shape if shape.needed else None, note, checked.keys,
                    shape.checks_keys_only)
