"""The content hash the dedup rests on: SHA-256 of exactly the file's bytes, any size, and
the digest the `ingest` command takes ahead, used only for the very file it was taken of."""

from __future__ import annotations

import hashlib
import os
import time
import zipfile
from pathlib import Path

import pytest

from monitor.intake import hashing
from monitor.intake.hashing import CHUNK_BYTES, sha256_of, stable_sha256
from monitor.operate.console import ingest_paths


@pytest.fixture(autouse=True)
def _no_digest_outlives_its_test():
    """A file's (device, inode) is reused once it is deleted: start and end with no digest ahead."""
    hashing._ahead.clear()
    yield
    hashing._ahead.clear()


@pytest.mark.parametrize("size", [0, 1, CHUNK_BYTES - 1, CHUNK_BYTES, 3 * CHUNK_BYTES + 17])
def test_sha256_of_is_the_hash_and_size_of_the_bytes(tmp_path, size):
    data = os.urandom(size)
    path = tmp_path / "file.bin"
    path.write_bytes(data)
    assert sha256_of(path) == (hashlib.sha256(data).hexdigest(), size)


def _ahead_digest_of(path):
    """Hash `path` ahead and wait until the digest is taken."""
    hashing.hash_ahead([path])
    stat = path.stat()
    hashing._ahead[(stat.st_dev, stat.st_ino)].done.wait(30)


def _counting_hashes(monkeypatch):
    calls = []
    real = hashing.sha256_of
    monkeypatch.setattr(hashing, "sha256_of", lambda path, *rest: calls.append(path) or real(path, *rest))
    return calls


def test_a_digest_taken_ahead_serves_the_unchanged_file(tmp_path, monkeypatch):
    path = tmp_path / "a.csv"
    path.write_bytes(b"id,name\n1,a\n" * 1000)
    _ahead_digest_of(path)
    calls = _counting_hashes(monkeypatch)
    sha256, size, stat = stable_sha256(path)
    assert (sha256, size) == (hashlib.sha256(path.read_bytes()).hexdigest(), path.stat().st_size)
    assert stat == (size, path.stat().st_mtime_ns)
    assert calls == []  # taken ahead, not again


def test_a_digest_taken_ahead_is_not_used_once_the_file_changed(tmp_path, monkeypatch):
    """Same size, modification time put back: only the change time tells, and it must."""
    path = tmp_path / "a.csv"
    path.write_bytes(b"id,name\n1,a\n")
    before = path.stat()
    _ahead_digest_of(path)
    time.sleep(0.01)
    path.write_bytes(b"id,name\n2,b\n")
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    calls = _counting_hashes(monkeypatch)
    sha256, _, _ = stable_sha256(path)
    assert sha256 == hashlib.sha256(b"id,name\n2,b\n").hexdigest()
    assert calls == [path]


def test_only_regular_files_that_are_not_zip_files_are_hashed_ahead(tmp_path):
    """A zip's members are what is loaded; a FIFO would block the start-up."""
    archive = tmp_path / "a.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("a.csv", "id\n1\n")
    fifo = tmp_path / "fifo.csv"
    os.mkfifo(fifo)
    plain = tmp_path / "b.csv"
    plain.write_text("id\n1\n")
    hashing.hash_ahead([archive, fifo, tmp_path / "missing.csv", tmp_path, plain])
    keys = {(stat.st_dev, stat.st_ino) for stat in map(os.stat, [archive, fifo, tmp_path, plain])}
    assert keys & hashing._ahead.keys() == {(plain.stat().st_dev, plain.stat().st_ino)}


@pytest.mark.parametrize(("argv", "files"), [
    (["--config", "ingest", "ingest", "-v", "a.csv", "b.zip"], ["a.csv", "b.zip"]),
    (["--env-file", ".env", "ingest", "--no-progress", "c.csv"], ["c.csv"]),
    (["status", "ingest"], []),
    (["run"], []),
    ([], []),
])
def test_the_console_hashes_ahead_only_the_files_of_an_ingest(argv, files):
    assert ingest_paths(argv) == [Path(name) for name in files]
