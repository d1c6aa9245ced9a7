"""The log lines of one file's life, each with the same fields for a log shipper: `detected`,
`started`, `progress` (for long loads) and `ended`, with `load_id`, `file`, `target`, `rows`,
`state` and `duration` passed as `extra=` (the JSON form has them as keys, the plain form
appends them as `key=value`).

A file that ended loaded with rejected rows says so at WARNING, naming its rejects file; a
failed file at ERROR with the reason; everything else at INFO.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from monitor.load.state.outcome import Outcome
from monitor.load.state.status import TERMINAL, Status
from monitor.records import FileRecord

log = logging.getLogger("monitor.pipeline")
EVENT_FIELD = "event"  # every line of a file's life carries it: `detected`, `started`, `progress`, `ended`


def fields(event: str, **values: Any) -> dict[str, Any]:
    """The `extra=` of one line: the event and the values that are known."""
    return {EVENT_FIELD: event, **{key: value for key, value in values.items() if value is not None}}


def detected(path: Path, target: str, settled_seconds: float | None) -> None:
    """A stable file handed to a worker."""
    waited = f" (first seen {settled_seconds:.1f}s ago)" if settled_seconds is not None else ""
    log.info("detected %s for %s%s", path.name, target, waited,
             extra=fields("detected", file=path.name, target=target, path=str(path), state="detected"))


def started(load_id: int, file: str, target: str, size_bytes: int | None) -> None:
    """A claimed file begins to load."""
    size = f", {size_bytes / 1_000_000:.1f} MB" if size_bytes is not None else ""
    log.info("started %s into %s (load %s%s)", file, target, load_id, size,
             extra=fields("started", load_id=load_id, file=file, target=target, state=Status.LOADING.value,
                          bytes=size_bytes))


def progress(load_id: int, file: str, target: str, rows: int, seconds: float, phase: str,
             fraction: float | None, mb_per_s: float | None) -> None:
    """A long load, now and then."""
    done = "" if fraction is None else f", {fraction * 100:.0f}%"
    rate = "" if mb_per_s is None else f", {mb_per_s:.1f} MB/s"
    log.info("progress %s (load %s): %s, %s rows%s%s, %.0fs", file, load_id, phase, f"{rows:,}", done, rate,
             seconds, extra=fields("progress", load_id=load_id, file=file, target=target, rows=rows,
                                   state=phase, duration=round(seconds, 3), fraction=fraction))


def ended(row: FileRecord) -> None:
    """A file reached its end (loaded, duplicate or failed); other states say nothing."""
    if row.status not in TERMINAL:
        return
    target = f"{row.target_schema}.{row.target_table}"
    duration = (row.duration_ms or 0) / 1000
    extra = fields("ended", load_id=row.load_id, file=row.file_name, target=target, state=row.status,
                   rows=row.rows_loaded, rejected=row.rows_rejected, duration=duration)
    if row.status == Status.FAILED:
        log.error("failed %s (load %s): %s", row.file_name, row.load_id, row.error, extra=extra)
    elif row.status == Status.DUPLICATE:
        log.info("duplicate %s: same content as load %s (load %s)", row.file_name, row.duplicate_of, row.load_id,
                 extra=extra)
    elif row.rows_rejected:
        side = Outcome.from_row(row).rejects_file
        where = f"; rejects in {side}" if side else ""
        log.warning("loaded %s into %s with rejects: %d rows, %d rejected (load %s, %.2fs)%s", row.file_name,
                    target, row.rows_loaded or 0, row.rows_rejected, row.load_id, duration, where,
                    extra={**extra, **({"rejects_file": str(side)} if side else {})})
    else:
        log.info("loaded %s into %s: %d rows, 0 rejected (load %s, %.2fs)", row.file_name, target,
                 row.rows_loaded or 0, row.load_id, duration, extra=extra)
