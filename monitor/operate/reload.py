"""Reloading a running daemon's configuration (SIGHUP, what `systemctl reload` sends).

The config file and `.env` are read again. A configuration that does not load (or names a
watched folder that does not exist) is refused in one log line and the running one stays.
Otherwise the folder rules are applied at once: folders no longer watched stop being
watched, new ones start, changed rules take the files detected from now on, and the loads
in flight finish under the rule they started with. Settings fixed at start (the database,
the HTTP port, the workers, ...) keep their running values and the log says a restart is
needed for them. Signals are handled here too: SIGTERM and SIGINT stop the daemon.
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable
from typing import Protocol

from monitor.config import ConfigError, FolderRule, Settings
from monitor.errors import first_line
from monitor.intake.rules import RuleBook, describe_rule
from monitor.intake.watcher import FolderWatcher
from monitor.operate.app import App
from monitor.operate.checks import missing_folder
from monitor.operate.narrator import Narrator

log = logging.getLogger("monitor.daemon")
# Read once at start: a change to these is said and waits for a restart.
AT_START = ("database_url", "instance", "workers", "queue_size", "batch_rows", "lease_seconds", "log_format",
            "backend", "limits", "http_host", "http_port", "base_dir")


class Daemon(Protocol):
    """What a reload and the signals touch of a running daemon (`monitor.operate.daemon.Daemon`
    is one): named here so that the daemon imports this module, and it never imports it back."""

    app: App
    settings: Settings
    stop_event: threading.Event
    watcher: FolderWatcher
    narrator: Narrator


def _one_line(exc: BaseException) -> str:
    """A configuration error's lines joined into one."""
    return "; ".join(line.strip() for line in str(exc).splitlines() if line.strip()) or first_line(exc)


def _keyed(settings: Settings) -> dict[str, FolderRule]:
    """Rules by their name (their table when unnamed), numbered when two share one."""
    out: dict[str, FolderRule] = {}
    for rule in settings.folders:
        key, n = rule.label, 1
        while key in out:
            n += 1
            key = f"{rule.label}#{n}"
        out[key] = rule
    return out


def rule_changes(old: Settings, new: Settings) -> list[str]:
    """What a reload changes in the folder rules, one phrase each."""
    before, after = _keyed(old), _keyed(new)
    changes = [f"rule added: {describe_rule(rule)}" for key, rule in after.items() if key not in before]
    changes += [f"rule removed: {describe_rule(rule)}" for key, rule in before.items() if key not in after]
    for key in before.keys() & after.keys():
        was, now = before[key].model_dump(mode="json"), after[key].model_dump(mode="json")
        keys = [name for name in now if now[name] != was[name]]
        if keys:
            what = ", ".join(f"{name} {was[name]!r} -> {now[name]!r}" for name in keys)
            changes.append(f"rule changed: {key} ({what})")
    return changes


class Reloader:
    """Reloads one daemon's configuration on request (from a signal handler or any thread);
    the daemon's main loop applies it, between two ticks."""

    def __init__(self, daemon: Daemon, load: Callable[[], Settings], wanted: threading.Event | None = None) -> None:
        self.daemon = daemon
        self.load = load
        self.wanted = wanted or threading.Event()

    def request(self) -> None:
        """Ask for a reload (safe in a signal handler)."""
        self.wanted.set()

    def apply_if_wanted(self) -> None:
        """Reload now when one was asked for."""
        if self.wanted.is_set():
            self.wanted.clear()
            self.apply()

    def apply(self) -> bool:
        """Read the configuration again and apply it; False (and one log line) when refused."""
        old = self.daemon.settings
        log.info("reloading the configuration")
        try:
            new = self.load()
            missing = [problem for index, rule in enumerate(new.folders) if (problem := missing_folder(index, rule))]
            if missing:
                raise ConfigError("; ".join(missing))
        except ConfigError as exc:
            log.error("reload refused, still running the previous configuration: %s", _one_line(exc))
            return False
        except Exception as exc:  # reading failed in a way not foreseen: still refused, said in one line
            log.error("reload refused, still running the previous configuration: %s", first_line(exc))
            return False
        fixed = [key for key in AT_START if getattr(new, key) != getattr(old, key)]
        if fixed:
            new = new.model_copy(update={key: getattr(old, key) for key in fixed})
            log.warning("reload: %s changed; kept as running until a restart", ", ".join(fixed))
        changes = rule_changes(old, new)
        others = [key for key in Settings.model_fields if key not in (*AT_START, "folders")
                  and getattr(new, key) != getattr(old, key)]
        self._install(new)
        for change in changes:
            log.info("reload: %s", change)
        for key in others:
            log.info("reload: %s %r -> %r", key, getattr(old, key), getattr(new, key))
        log.info("configuration reloaded: %d folder rule(s); %s", len(new.folders),
                 f"{len(changes)} rule change(s)" if changes else "no rule changed")
        return True

    def _install(self, new: Settings) -> None:
        daemon = self.daemon
        pipeline = daemon.app.pipeline
        daemon.settings = daemon.app.settings = pipeline.settings = new
        pipeline.rules = RuleBook(new)
        daemon.narrator.progress_seconds = new.progress_seconds
        logging.getLogger().setLevel(new.log_level.upper())
        daemon.watcher.reconfigure(new)


def early_reload_requests() -> threading.Event:
    """Catch SIGHUP from now on (its default ends the process): set while a reload is wanted."""
    asked = threading.Event()
    hup = getattr(signal, "SIGHUP", None)
    if hup is not None:
        signal.signal(hup, lambda _signum, _frame: asked.set())
    return asked


def install_signals(daemon: Daemon, reloader: Reloader | None) -> None:
    """SIGTERM and SIGINT ask for a clean stop (a second one rolls back loads at once);
    SIGHUP reloads the configuration (where the platform has it and a reloader is given)."""
    def stop(signum: int, _frame: object) -> None:
        name = signal.Signals(signum).name
        if daemon.stop_event.is_set():
            log.warning("%s again: rolling back the loads in flight now", name)
            daemon.app.pipeline.cancel.set()
        else:
            log.info("%s received: stopping", name)
            daemon.stop_event.set()

    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, stop)
    hup = getattr(signal, "SIGHUP", None)
    if hup is not None and reloader is not None:
        signal.signal(hup, lambda _signum, _frame: reloader.request())
