"""One daemon per instance name and database on a host: an OS lock that dies with its process.

On Linux the lock is a listening socket in the abstract namespace, named from a hash of the
instance name and the database (no file to clean up after a crash; the kernel frees it when
the process ends, however it ends); a second daemon finds the name taken and learns the
holder's process id from the socket (`SO_PEERCRED`). Elsewhere it is an exclusive lock on a
file in the temporary folder, holding the holder's pid.
"""

from __future__ import annotations

import hashlib
import os
import socket
import struct
import sys
import tempfile
from pathlib import Path
from types import TracebackType

from monitor.operate.exits import AlreadyRunning


def lock_name(instance: str, database: str) -> str:
    """The lock's name for an instance and a database (URL without its password)."""
    digest = hashlib.sha256(f"{instance}\0{database}".encode()).hexdigest()[:32]
    return f"ingest-monitor-{digest}"


class InstanceLock:
    """Held while the daemon runs; `acquire` raises `AlreadyRunning` when another holds it."""

    def __init__(self, instance: str, database: str) -> None:
        self.instance, self.database = instance, database
        self.name = lock_name(instance, database)
        self._socket: socket.socket | None = None
        self._file: int | None = None

    def _refusal(self, pid: int | None) -> AlreadyRunning:
        holder = f" (pid {pid})" if pid else ""
        return AlreadyRunning(
            f"another ingest-monitor{holder} already runs as instance {self.instance!r} on this host against "
            f"{self.database}; stop it, or give each daemon its own name (`instance` in the config, or "
            "INGEST_INSTANCE)")

    def acquire(self) -> InstanceLock:
        """Take the lock, or raise `AlreadyRunning` naming the holder."""
        if sys.platform.startswith("linux"):
            self._acquire_socket()
        else:
            self._acquire_file()
        return self

    def _acquire_socket(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
        try:
            sock.bind("\0" + self.name)
        except OSError:
            sock.close()
            raise self._refusal(_holder_pid(self.name)) from None
        sock.listen(8)
        self._socket = sock

    def _acquire_file(self) -> None:
        path = Path(tempfile.gettempdir()) / f"{self.name}.lock"
        handle = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            _lock_file(handle)
        except OSError:
            held = os.read(handle, 32).decode(errors="replace").strip()
            os.close(handle)
            raise self._refusal(int(held) if held.isdigit() else None) from None
        os.ftruncate(handle, 0)
        os.write(handle, str(os.getpid()).encode())
        self._file = handle

    def release(self) -> None:
        """Let the name go."""
        if self._socket is not None:
            self._socket.close()
            self._socket = None
        if self._file is not None:
            os.close(self._file)
            self._file = None

    def __enter__(self) -> InstanceLock:
        return self.acquire()

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.release()


def _holder_pid(name: str) -> int | None:
    """The process listening on an abstract socket (None when it cannot be told)."""
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
            probe.settimeout(2)
            probe.connect("\0" + name)
            creds = probe.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    except OSError:
        return None
    pid, _, _ = struct.unpack("3i", creds)
    return pid or None


def _lock_file(handle: int) -> None:
    """An exclusive, non-blocking lock on an open file (OSError when it is held)."""
    if sys.platform == "win32":
        import msvcrt

        msvcrt.locking(handle, msvcrt.LK_NBLCK, 1)
    else:
        import fcntl

        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
