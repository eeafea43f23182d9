"""Small file helpers shared by the caches: checksums, code hashes and atomic writes."""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path


def sha256_file(path: str | os.PathLike) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def code_digest(files, root: Path, extra=()) -> str:
    """16 hex digits of sha256 over each file's name (relative to ``root`` where it
    lies under it) and bytes, then each string of ``extra`` (library versions, say).

    What keys a cached result to the code that computed it, so that an edit to
    that code recomputes it and nobody has to bump a version by hand.
    """
    digest = hashlib.sha256()
    for path in files:
        path = Path(path)
        name = path.relative_to(root) if path.is_relative_to(root) else path.name
        digest.update(str(name).encode() + b"\0" + path.read_bytes() + b"\0")
    for item in extra:
        digest.update(f"{item}\0".encode())
    return digest.hexdigest()[:16]


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` so that readers see the old file or the new one, never half of it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
