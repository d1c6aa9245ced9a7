"""The content hash the dedup rests on: SHA-256 of exactly the file's bytes, any size."""

from __future__ import annotations

import hashlib
import os

import pytest

from monitor.hashing import CHUNK_BYTES, sha256_of


@pytest.mark.parametrize("size", [0, 1, CHUNK_BYTES - 1, CHUNK_BYTES, 3 * CHUNK_BYTES + 17])
def test_sha256_of_is_the_hash_and_size_of_the_bytes(tmp_path, size):
    data = os.urandom(size)
    path = tmp_path / "file.bin"
    path.write_bytes(data)
    assert sha256_of(path) == (hashlib.sha256(data).hexdigest(), size)
