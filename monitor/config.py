"""Configuration: one validated pydantic model, loaded once from JSON plus `.env`."""

from __future__ import annotations

import codecs
import difflib
import fnmatch
import json
import os
import re
from pathlib import Path
from typing import Any, Literal

from dotenv import dotenv_values
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from monitor.catalog import REF_SCHEMA

DEFAULT_CONFIG_PATH = "config/monitor.json"
DEFAULT_DATABASE_URL = "sqlite:///data/ingest.db"
IGNORED_NAME_PATTERNS = ("*.tmp", "*.part", "*.partial", "*.crdownload", "~$*", ".*")
# fullload snapshots (docs/snapshots.md): one part of a set, as Companies House names them
# (`BasicCompanyData-2026-11-01-part1_7.zip`), and the snapshot's date in a file name.
PART_PATTERN = r"^(?P<set>.+)-part(?P<part>\d+)_(?P<count>\d+)(?=\.|$)"
PART_GROUPS = ("set", "part", "count")
DATE_PATTERN = r"(?P<date>\d{4}-\d{2}-\d{2})"


Kind = Literal["text", "integer", "decimal", "date", "datetime", "boolean"]
KINDS: tuple[str, ...] = ("text", "integer", "decimal", "date", "datetime", "boolean")
KeyStep = Literal["trim", "lower", "upper"]


class ColumnSpec(BaseModel):
    """One declared column: its type and, for dates and datetimes, a `strptime` format."""

    model_config = ConfigDict(extra="forbid")

    type: Kind = "text"
    format: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, value: Any) -> Any:
        return {"type": value} if isinstance(value, str) else value


class ConfigError(Exception):
    """The configuration is invalid; the message names the file and the key, one line per
    problem (`problems`: each without the file's name)."""

    def __init__(self, message: str, problems: list[str] | None = None, source: Path | None = None) -> None:
        super().__init__(message)
        self.problems, self.source = problems or [], source


class FolderRule(BaseModel):
    """One watched folder and what to do with the files dropped into it."""

    model_config = ConfigDict(extra="forbid")

    path: Path
    pattern: str = "*.csv"
    table: str = Field(min_length=1, max_length=100)
    name: str | None = Field(default=None, min_length=1, description="for `ingest --rule`; the table name serves")
    mode: Literal["fullload", "append", "merge"] = "append"
    reference: bool = False
    delimiter: str | None = Field(default=None, description="None: detect from the header")
    encoding: str = "auto"
    null_values: list[str] = Field(default_factory=lambda: [""])
    backups: int = Field(default=1, ge=0, le=100, description="fullload: bkp versions kept")
    observer: Literal["native", "polling"] = "native"
    recursive: bool = Field(default=False, description="watch the folder's subfolders too; the pattern may then "
                            "name them (`**/*.csv`, `2026-*/*.csv`)")
    poll_interval: float = Field(default=2.0, gt=0)
    expected_every_hours: float | None = Field(
        default=None, gt=0, description="a file is expected at least this often (the stale-target alert)")
    # bad input (README "Bad input"; monitor/policies.py, monitor/types.py)
    columns: dict[str, ColumnSpec] = Field(default_factory=dict, description="declared column types")
    key_columns: list[str] = Field(default_factory=list, description="a row with one empty is rejected")
    key_normalise: list[KeyStep] = Field(default_factory=list,
                                         description="applied to the key columns' values, in order (trim, lower)")
    required_columns: list[str] = Field(default_factory=list)
    new_columns: Literal["add", "ignore", "fail"] = "add"
    duplicate_columns: Literal["rename", "fail"] = "rename"
    on_error: Literal["continue", "skip_file", "abort"] = "continue"
    max_rejects: int | None = Field(default=None, ge=0, description="skip_file: more rejects fail the file")
    max_reject_percent: float | None = Field(default=None, ge=0, le=100)
    # fullload snapshots (docs/snapshots.md; monitor/load/read/snapshots.py, monitor/load/sets/machine.py)
    part_pattern: str | None = Field(default=PART_PATTERN, description="a part of a set: groups set, part, count")
    date_pattern: str | None = Field(default=DATE_PATTERN, description="the snapshot date in the name")
    date_format: str = Field(default="%Y-%m-%d", description="strptime format of the date found")
    set_timeout: float = Field(default=3600.0, gt=0, description="seconds before an incomplete set is reported")
    min_shared_columns: float = Field(default=0.5, ge=0, le=1, description="share of the table's columns kept")
    allow_new_shape: bool = False

    @field_validator("part_pattern")
    @classmethod
    def _part_groups(cls, value: str | None) -> str | None:
        if value is not None:
            missing = [group for group in PART_GROUPS if group not in _compiled(value).groupindex]
            if missing:
                raise ValueError(f"the pattern needs the named groups set, part and count (missing: "
                                 f"{', '.join(missing)})")
        return value

    @field_validator("date_pattern")
    @classmethod
    def _date_regex(cls, value: str | None) -> str | None:
        if value is not None:
            _compiled(value)
        return value

    @field_validator("encoding")
    @classmethod
    def _known_encoding(cls, value: str) -> str:
        if value != "auto":
            try:
                codecs.lookup(value)
            except LookupError as exc:
                raise ValueError(f"unknown encoding {value!r}") from exc
        return value

    @field_validator("table")
    @classmethod
    def _table_is_plain(cls, value: str) -> str:
        if value != value.strip() or "\x00" in value:
            raise ValueError("table name must not start or end with spaces or hold NUL")
        return value

    @field_validator("delimiter")
    @classmethod
    def _one_char(cls, value: str | None) -> str | None:
        if value is not None and len(value) != 1:
            raise ValueError("delimiter must be exactly one character")
        return value

    @model_validator(mode="after")
    def _pattern_can_match(self) -> FolderRule:
        if ("/" in self.pattern or "\\" in self.pattern) and not self.recursive:
            raise ValueError(f"pattern {self.pattern!r} names a subfolder, but only the folder itself is watched, "
                             "where a file's name never holds one: it cannot match; set \"recursive\": true to "
                             "watch subfolders, or write the pattern for a name (\"*.csv\")")
        return self

    @model_validator(mode="after")
    def _merge_has_a_key(self) -> FolderRule:
        if self.mode == "merge" and not self.key_columns:
            raise ValueError('mode "merge" needs key_columns: the columns that identify a row '
                             '(for example ["Email"]); rows whose key matches are updated, the others inserted')
        return self

    @property
    def label(self) -> str:
        """The rule's name for `ingest --rule`: its `name`, else its table."""
        return self.name or self.table

    @property
    def target(self) -> str:
        """The target as an operator writes it, e.g. `ref.companies`."""
        return f"{REF_SCHEMA}.{self.table}" if self.reference else self.table

    def matches(self, name: str, relative: str | None = None) -> bool:
        """True when a file matches this rule's pattern: by its name, or, for a pattern naming
        subfolders, by its path under the watched folder (`relative`, with `/`; `**/` also
        matches no subfolder)."""
        if "/" not in self.pattern:
            return fnmatch.fnmatch(name, self.pattern)
        relative = relative if relative is not None else name
        top = self.pattern.startswith("**/") and fnmatch.fnmatch(relative, self.pattern[3:])
        return top or fnmatch.fnmatch(relative, self.pattern)


def _compiled(pattern: str) -> re.Pattern[str]:
    try:
        return re.compile(pattern)
    except re.error as exc:
        raise ValueError(f"not a valid regular expression: {exc}") from exc


MIB = 1 << 20
GIB = 1 << 30


class Limits(BaseModel):
    """What one dropped file may cost at most: memory (the longest record), disk and time
    (what compressed content expands to). Each is checked while the file streams; a file
    over a limit fails with the limit named (docs/limits.md)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    max_record_chars: int = Field(default=MIB, ge=1024, le=64 * MIB,
                                  description="the longest record (or header) read, in characters")
    max_expanded_bytes: int = Field(default=32 * GIB, ge=MIB,
                                    description="what a compressed file (all members of a zip) expands to")
    max_expansion_ratio: float = Field(default=200.0, ge=2,
                                       description="expanded size over compressed size, past the first MiB")
    max_zip_members: int = Field(default=10_000, ge=1, description="entries in a zip's directory")


LEGACY_BACKEND_KEYS = {"sqlite_driver": ("sqlite", "driver"), "mssql_bcp": ("mssql", "bcp")}


class Settings(BaseModel):
    """The whole daemon configuration."""

    model_config = ConfigDict(extra="forbid")

    database_url: str = DEFAULT_DATABASE_URL
    folders: list[FolderRule] = Field(min_length=1)
    settle_seconds: float = Field(default=2.0, ge=0)
    workers: int = Field(default=4, ge=1, le=64)
    queue_size: int = Field(default=1000, ge=1)
    batch_rows: int = Field(default=5_000, ge=1)
    lease_seconds: float = Field(default=60.0, gt=0)
    rescan_seconds: float = Field(default=30.0, gt=0)
    shutdown_timeout: float = Field(default=30.0, gt=0)
    progress_seconds: float = Field(default=30.0, gt=0, description="a long load logs its progress this often")
    instance: str | None = None
    log_format: Literal["plain", "json"] = "plain"
    log_level: str = "INFO"
    backend: dict[str, dict[str, Any]] = Field(
        default_factory=dict, description="each database's own settings under its name, read by its backend "
        "(`monitor.backends.<database>.options`)")
    limits: Limits = Field(default_factory=Limits)
    http_host: str = Field(default="127.0.0.1", description="status page, /metrics and /health")
    http_port: int = Field(default=8765, ge=0, le=65535, description="0: no HTTP server")
    base_dir: Path = Path(".")

    @model_validator(mode="before")
    @classmethod
    def _legacy_backend_keys(cls, data: Any) -> Any:
        """`sqlite_driver` and `mssql_bcp` at the top level (as earlier versions had them)
        mean `backend.sqlite.driver` and `backend.mssql.bcp`."""
        if isinstance(data, dict) and LEGACY_BACKEND_KEYS.keys() & data.keys():
            data = dict(data)
            backend = dict(data.get("backend") or {})
            for key, (section, option) in LEGACY_BACKEND_KEYS.items():
                if key in data:
                    backend[section] = {**dict(backend.get(section) or {}), option: data.pop(key)}
            data["backend"] = backend
        return data

    @model_validator(mode="after")
    def _names_unique(self) -> Settings:
        names = [rule.name for rule in self.folders if rule.name is not None]
        repeated = sorted({name for name in names if names.count(name) > 1})
        if repeated:
            raise ValueError(f"rule names must be unique: {', '.join(repeated)} named more than once")
        return self


def is_ignored_name(name: str) -> bool:
    """Temporary or hidden names that are never loaded until renamed."""
    return any(fnmatch.fnmatch(name, pattern) for pattern in IGNORED_NAME_PATTERNS)


def _known_keys(loc: tuple[int | str, ...]) -> list[str]:
    """The keys allowed where an unknown key `loc` was found."""
    model: Any = Settings
    for part in loc[:-1]:
        field = model.model_fields.get(part) if isinstance(part, str) else None
        if isinstance(part, int):
            continue
        if field is None:
            return []
        inner = [arg for arg in (getattr(field.annotation, "__args__", None) or (field.annotation,))
                 if isinstance(arg, type) and issubclass(arg, BaseModel)]
        if not inner:
            return []
        model = inner[0]
    return list(model.model_fields)


def _did_you_mean(item: Any) -> str:
    """` (did you mean 'pattern'?)` for an unknown key or value close to a known one."""
    if item["type"] == "extra_forbidden":
        given, known = str(item["loc"][-1]), _known_keys(tuple(item["loc"]))
    elif item["type"] == "literal_error":
        given, known = str(item.get("input")), re.findall(r"'([^']*)'", str(item.get("ctx", {}).get("expected")))
    else:
        return ""
    close = difflib.get_close_matches(given, known, n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _format_errors(path: Path, error: ValidationError) -> ConfigError:
    problems = []
    for item in error.errors():
        key = ".".join(str(part) for part in item["loc"]) or "(top level)"
        problems.append(f"{key}: {item['msg']}{_did_you_mean(item)}")
    return ConfigError("\n".join(f"{path}: {problem}" for problem in problems), problems, path)


_FROM_ENV_FILE: dict[str, str] = {}  # variables this process took from `.env`, as it took them


def read_env_file(path: Path) -> None:
    """Put `.env`'s variables into the environment, never over one set outside it; read again
    (a reload), a variable `.env` had set takes its new value, or goes when it was removed."""
    values = {key: value for key, value in dotenv_values(path).items() if value is not None} if path.is_file() else {}
    for key in set(_FROM_ENV_FILE) - set(values):
        if os.environ.get(key) == _FROM_ENV_FILE.pop(key):
            os.environ.pop(key, None)
    for key, value in values.items():
        if key not in os.environ or os.environ[key] == _FROM_ENV_FILE.get(key):
            os.environ[key] = value
            _FROM_ENV_FILE[key] = value


def load_settings(config_path: str | Path | None = None, env_file: str | Path | None = None) -> Settings:
    """Load `.env`, then the JSON config; environment variables override the file.

    The config path is `config_path`, else `INGEST_MONITOR_CONFIG`, else
    `config/monitor.json`. Relative folder paths and SQLite files are resolved
    against the current directory.
    """
    read_env_file(Path(env_file) if env_file else Path.cwd() / ".env")
    path = Path(config_path or os.environ.get("INGEST_MONITOR_CONFIG") or DEFAULT_CONFIG_PATH)
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ConfigError(f"{path}: config file not found") from exc
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{path}: not valid JSON: line {exc.lineno} column {exc.colno}: {exc.msg}") from exc
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: the top level must be a JSON object")
    for key, env in (("database_url", "INGEST_DATABASE_URL"), ("instance", "INGEST_INSTANCE")):
        if os.environ.get(env):
            raw[key] = os.environ[env]
    try:
        return Settings.model_validate(raw)
    except ValidationError as exc:
        raise _format_errors(path, exc) from exc
