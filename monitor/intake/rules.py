"""Which folder rule a file belongs to: the one place that answers it.

- `watched(path)`: a file in a watched folder belongs to the rule of that folder whose
  pattern matches its name; temporary and hidden names (`*.tmp`, `*.part`, `.x`, ...) to none
  until they are renamed.
- `for_file(path, name)`: a file named on the command line: the rule called `name` when one
  is asked for (`ingest --rule`); else its watched folder's rule; else the one rule whose
  pattern matches its name. No rule, or several, is refused (`NoRule`, naming them): a
  file is never loaded into a table by a guess.
- `for_load(row, schema_for)`: the rule that loads into an audit row's target, preferring
  the one whose folder the file came from (for recovery, retry and replay).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Protocol

from monitor.config import FolderRule, Settings, is_ignored_name
from monitor.intake.folders import work_dir

WORK_KINDS = ("processing", "archive", "failed")  # beside each watched folder, never watched


class LoadRow(Protocol):
    """What `for_load` reads of an audit row."""

    @property
    def target_schema(self) -> str: ...
    @property
    def target_table(self) -> str: ...
    @property
    def source_path(self) -> str: ...


class NoRule(Exception):
    """No rule, or more than one, could take a file given by name; the message says which."""


def describe_rule(rule: FolderRule) -> str:
    """`companies (folder incoming/companies, pattern BasicCompanyData*, fullload into ref.companies)`."""
    return f"{rule.label} (folder {rule.path}, pattern {rule.pattern}, {rule.mode} into {rule.target})"


class RuleBook:
    """The configured rules, with their watched folders resolved once."""

    def __init__(self, settings: Settings) -> None:
        self.rules = list(settings.folders)
        self._folders = [(rule, rule.path.resolve()) for rule in self.rules]
        self._work = [work_dir(folder, kind) for _, folder in self._folders for kind in WORK_KINDS]

    def _in_folder(self, folder: Path, name: str) -> FolderRule | None:
        for rule, watched in self._folders:
            if watched == folder and rule.matches(name):
                return rule
        for rule, watched in self._folders:
            under = rule.recursive and watched in folder.parents and not self._is_work(folder)
            relative = (folder / name).relative_to(watched).as_posix() if under else ""
            hidden = any(part.startswith(".") for part in relative.split("/")[:-1])
            if under and not hidden and rule.matches(name, relative):
                return rule
        return None

    def _is_work(self, folder: Path) -> bool:
        """A folder inside a rule's `processing`, `archive` or `failed` (never watched)."""
        return any(folder == work or work in folder.parents for work in self._work)

    def holds(self, path: Path) -> bool:
        """True when `path` sits in a watched folder (or a subfolder of a recursive one)."""
        parent = path.resolve().parent
        return any(folder == parent or (rule.recursive and folder in parent.parents and not self._is_work(parent))
                   for rule, folder in self._folders)

    def watched(self, path: Path) -> FolderRule | None:
        """The rule of the watched folder holding `path` whose pattern matches its name
        (None for temporary and hidden names). `path` is as the watcher reports it."""
        if is_ignored_name(path.name):
            return None
        return self._in_folder(path.parent, path.name)

    def named(self, name: str) -> FolderRule:
        """The rule called `name` (its `name`, else its table); `NoRule` when none is, or when
        several rules share that table and none is named so."""
        named = [rule for rule in self.rules if rule.name == name]
        if named:
            return named[0]
        by_table = [rule for rule in self.rules if rule.name is None and rule.table == name]
        if len(by_table) == 1:
            return by_table[0]
        if by_table:
            raise NoRule(f"--rule {name}: {len(by_table)} rules load into {name}: "
                         f"{'; '.join(describe_rule(r) for r in by_table)}; give them a `name` to choose one")
        known = ", ".join(rule.label for rule in self.rules)
        raise NoRule(f"--rule {name}: no rule of that name (the rules: {known})")

    def for_file(self, path: Path, name: str | None = None) -> FolderRule:
        """The rule for a file given by name: the one asked for, else its watched folder's, else
        the only one whose pattern matches the name (`NoRule` when none or several do)."""
        if name is not None:
            return self.named(name)
        found = self._in_folder(path.resolve().parent, path.name)
        if found is not None:
            return found
        matching = [rule for rule in self.rules if rule.matches(path.name)]
        if len(matching) == 1:
            return matching[0]
        if not matching:
            raise NoRule(f"{path.name}: no folder rule matches")
        raise NoRule(f"{path.name}: refused: {len(matching)} rules match its name and it is in none of their "
                     f"folders: {'; '.join(describe_rule(r) for r in matching)}; nothing loaded: choose one "
                     f"with --rule NAME, or drop it into its folder")

    def for_load(self, row: LoadRow, schema_for: Callable[[bool], str]) -> FolderRule | None:
        """The rule that loads into the row's target (`schema_for(reference)` names a rule's
        schema), preferring the one whose folder the file came from."""
        matches = [
            rule for rule in self.rules
            if rule.table == row.target_table and schema_for(rule.reference) == row.target_schema
        ]
        source_folder = Path(row.source_path).parent
        same_folder = (rule for rule, folder in self._folders
                       if folder == source_folder and any(rule is match for match in matches))
        return next(same_folder, matches[0] if matches else None)

