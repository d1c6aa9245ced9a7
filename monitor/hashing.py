"""Content hashing: SHA-256 of the bytes as dropped, streamed in bounded memory.

The file is read into one reused buffer (no new bytes object per chunk); OpenSSL's
SHA-256 then runs at about 1 GB/s here, a few per cent of a load's time, so the
hash is taken before the load (a duplicate is known before any row moves).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

CHUNK_BYTES = 1 << 20


def sha256_of(path: Path) -> tuple[str, int]:
    """The file's SHA-256 (hex) and its size in bytes, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    buffer = bytearray(CHUNK_BYTES)
    view = memoryview(buffer)
    size = 0
    with path.open("rb", buffering=0) as handle:
        while read := handle.readinto(buffer):
            digest.update(view[:read])
            size += read
    return digest.hexdigest(), size
