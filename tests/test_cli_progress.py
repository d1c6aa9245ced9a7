"""The `ingest` progress bar: drawn on a real terminal (a pseudo-terminal), never into a pipe."""

from __future__ import annotations

import os
import pty
import subprocess
import sys
import threading

import pytest
from conftest import CONTACTS, cli_env, write_csv

from monitor.operate.progress import BAR_MIN_BYTES, Estimate, measure, render


def _big_csv(path, rows=40_000):
    path = write_csv(path, ["id", "name", "email"],
                     [[str(i), f"name {i}", f"user{i}@example.com"] for i in range(rows)])
    assert path.stat().st_size > BAR_MIN_BYTES
    return path


@pytest.mark.parametrize("backend_url", ["sqlite"], indirect=True)
def test_progress_bar_only_on_a_terminal(make_workspace, tmp_path):
    ws = make_workspace(CONTACTS)
    piped = ws.cli("ingest", str(_big_csv(tmp_path / "piped.csv")))
    assert "\r" not in piped.stderr and "MB/s" not in piped.stderr and "ETA" not in piped.stderr
    assert "piped.csv" in piped.stdout

    returncode, stdout, terminal = _on_a_terminal(ws, "ingest", str(_big_csv(tmp_path / "tty.csv", 50_000)))
    assert returncode == 0, terminal
    frames = [frame for frame in terminal.split("\r") if frame.strip()]
    assert frames, terminal
    last = frames[-1]
    assert last.startswith("tty.csv [") and "100%" in last and "50,000 rows" in last and "MB/s" in last, last
    assert all("rows" in frame for frame in frames)
    assert b"tty.csv" in stdout and b"loaded" in stdout


@pytest.mark.parametrize("backend_url", ["sqlite"], indirect=True)
def test_replay_and_retry_draw_a_bar_too(make_workspace, tmp_path):
    ws = make_workspace(CONTACTS)
    ws.cli("ingest", str(_big_csv(tmp_path / "again.csv")))
    [(load_id,)] = ws.query("SELECT load_id FROM ingest_files")
    returncode, stdout, terminal = _on_a_terminal(ws, "replay", str(load_id))
    assert returncode == 0, terminal
    frames = [frame for frame in terminal.split("\r") if frame.strip()]
    assert frames and frames[-1].startswith("again.csv [") and "100%" in frames[-1], terminal
    assert stdout.startswith(f"load {load_id + 1}: loaded".encode())


def test_the_bar_names_the_phase_instead_of_sitting_at_99_percent():
    est = Estimate(content_bytes=1_000_000, bytes_per_row=100.0, rows=10_000)
    reading = measure(10_000, 2.0, est)
    assert reading.fraction == 0.99
    loading = render("big.csv", reading, 100)
    committing = render("big.csv", reading, 100, phase="committing")
    assert "ETA" in loading and "committing" not in loading
    assert committing.endswith(" committing") and "ETA" not in committing and " 99%" in committing
    assert render("big.csv", measure(10_000, 3.0, est, done=True), 100, done=True).endswith("in 3.0s")


def _on_a_terminal(ws, *args: str) -> tuple[int, bytes, str]:
    """Run a command with its standard error on a pseudo-terminal: exit code, stdout, the terminal."""
    primary, secondary = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "monitor", "--config", str(ws.config), *args],
        stdout=subprocess.PIPE, stderr=secondary, stdin=subprocess.DEVNULL, cwd=ws.root, env=cli_env(),
    )
    os.close(secondary)
    chunks: list[bytes] = []

    def drain() -> None:
        while True:
            try:
                data = os.read(primary, 4096)
            except OSError:  # EIO: the terminal's other end closed
                return
            if not data:
                return
            chunks.append(data)

    reader = threading.Thread(target=drain)
    reader.start()
    stdout, _ = proc.communicate(timeout=300)
    reader.join(timeout=30)
    os.close(primary)
    return proc.returncode, stdout, b"".join(chunks).decode()
