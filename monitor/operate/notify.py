"""systemd notifications (`sd_notify`) over `$NOTIFY_SOCKET`, standard library only.

The daemon says READY=1 once it watches its folders, WATCHDOG=1 from its main loop
(so a hung loop stops the pings and systemd restarts it), STOPPING=1 when it begins
to shut down. Without `$NOTIFY_SOCKET` (not started by systemd) every call does nothing.
"""

from __future__ import annotations

import logging
import os
import socket
import time

log = logging.getLogger("monitor.notify")


class Notifier:
    """Sends state lines to the service manager's notification socket."""

    def __init__(self, address: str | None = None, watchdog_usec: str | None = None,
                 watchdog_pid: str | None = None) -> None:
        self.address = address if address is not None else os.environ.get("NOTIFY_SOCKET", "")
        usec = watchdog_usec if watchdog_usec is not None else os.environ.get("WATCHDOG_USEC", "")
        pid = watchdog_pid if watchdog_pid is not None else os.environ.get("WATCHDOG_PID", "")
        interval = int(usec) / 1_000_000 if usec.isdigit() and int(usec) > 0 else 0.0
        if pid.isdigit() and int(pid) != os.getpid():  # the watchdog is meant for another process
            interval = 0.0
        self.watchdog_interval = interval
        self._last_ping = float("-inf")
        self._failed = False

    @property
    def enabled(self) -> bool:
        """True when a notification socket was given."""
        return bool(self.address)

    def send(self, *lines: str) -> bool:
        """Send `KEY=value` lines in one datagram; False when there is no socket or it failed."""
        if not self.address:
            return False
        target = self.address
        if target.startswith("@"):  # abstract namespace (Linux)
            target = "\0" + target[1:]
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
                sock.connect(target)
                sock.sendall("\n".join(lines).encode("utf-8"))
        except OSError as exc:
            if not self._failed:  # say it once, not on every watchdog ping
                log.warning("cannot notify the service manager at %s: %s", self.address, exc)
                self._failed = True
            return False
        return True

    def ready(self, status: str = "") -> bool:
        """READY=1 (and a STATUS= line)."""
        return self.send("READY=1", *([f"STATUS={status}"] if status else []))

    def stopping(self, status: str = "") -> bool:
        """STOPPING=1 (and a STATUS= line)."""
        return self.send("STOPPING=1", *([f"STATUS={status}"] if status else []))

    def status(self, status: str) -> bool:
        """A free-text STATUS= line (shown by `systemctl status`)."""
        return self.send(f"STATUS={status}")

    def watchdog(self, now: float | None = None) -> bool:
        """WATCHDOG=1 when half the watchdog interval has passed since the last ping."""
        if not self.watchdog_interval or not self.address:
            return False
        now = time.monotonic() if now is None else now
        if now - self._last_ping < self.watchdog_interval / 2:
            return False
        self._last_ping = now
        return self.send("WATCHDOG=1")
