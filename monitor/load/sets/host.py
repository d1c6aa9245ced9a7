"""What the stages of snapshot sets and zips of several files need from the pipeline that
runs them: named here as a protocol, so that they never import the pipeline itself."""

from __future__ import annotations

import threading
from datetime import datetime
from pathlib import Path
from typing import Protocol

from monitor.backends import Backend
from monitor.config import FolderRule, Settings
from monitor.intake.rules import RuleBook
from monitor.load.state.inflight import InFlight
from monitor.load.state.machine import FileFacts, StateStore
from monitor.load.state.moves import Mover
from monitor.load.state.outcome import Outcome
from monitor.load.write.run import RunContext


class PipelineHost(Protocol):
    """The pipeline as its set and zip stages see it."""

    settings: Settings
    backend: Backend
    state: StateStore
    rules: RuleBook
    in_flight: InFlight
    mover: Mover
    context: RunContext

    def target_lock(self, target: str) -> threading.Lock: ...

    def database_answers(self) -> bool: ...

    def outcome_of(self, load_id: int) -> Outcome: ...

    def process(self, path: Path, rule: FolderRule, *, discovered_at: datetime | None = None,
                keep_source: bool = False, replay_of: int | None = None, expand: bool = True,
                name: str | None = None) -> Outcome: ...

    def fail_unread(self, path: Path, rule: FolderRule, facts: FileFacts, message: str,
                    keep_source: bool) -> Outcome: ...
