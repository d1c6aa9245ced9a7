"""Content hashing: SHA-256 of the bytes as dropped, streamed in bounded memory."""

from __future__ import annotations

import hashlib
from pathlib import Path

CHUNK_BYTES = 4 << 20


def sha256_of(path: Path) -> tuple[str, int]:
    """The file's SHA-256 (hex) and its size in bytes, read in 4 MiB chunks."""
    digest = hashlib.sha256()
    size = 0
    with path.open("rb") as handle:
        while chunk := handle.read(CHUNK_BYTES):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size
