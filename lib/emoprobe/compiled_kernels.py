"""librosa, with its cached numba kernels compiled by one process at a time.

librosa declares its gufuncs (``peak_pick``, the beat tracker, zero crossings,
``yin``'s helpers) with ``cache=True`` and explicit signatures, so numba compiles
them when their module is first imported and writes two files per kernel to the
cache. Two processes that compile the same kernel at once can leave the two files
of different compilations side by side, and every later process that loads them
dies of a segmentation fault at the kernel's first call (numba issue 10128). A
fresh environment running ``pytest -n 2`` does exactly that: on this project's
CI box, two workers on a cold cache left a broken ``peak_pick`` every time (6 of 6
tries), and from then on every acoustic feature crashed the process that asked.

``import_librosa`` therefore imports those modules under one lock beside the cache:
the first process compiles and writes while the others wait, and they then load
finished files. With a warm cache the lock is held for the milliseconds an import
takes. The lock is ``filelock``'s ``flock``, which the system releases when its
holder dies, so a killed run leaves no stale lock behind.

Assumption: every process that may compile these kernels goes through this
function (emoprobe's own use of librosa does). A cache broken before this
existed stays broken: delete the ``*.nbi`` and ``*.nbc`` files under librosa's
``__pycache__`` folders (or under ``NUMBA_CACHE_DIR``, where that is set).
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import os
import sys
import tempfile
from pathlib import Path
from types import ModuleType
from typing import Any

# librosa's modules that declare kernels with ``cache=True`` and explicit signatures, which
# numba compiles at import (tests/test_compiled_kernels.py checks the list against librosa's source).
KERNEL_MODULES = ("librosa.util.utils", "librosa.beat", "librosa.core.audio", "librosa.core.pitch")

# How long to wait in silence before saying why the import is slow.
_QUIET_WAIT_S = 5.0

_COMPILED = False


def lock_paths() -> list[Path]:
    """Where the lock may lie, best first: beside the numba cache that librosa's kernels go to.

    numba writes them under ``NUMBA_CACHE_DIR`` where that is set, else in the ``__pycache__``
    folders of librosa's own package where it may write there, else in a per-user cache. The
    lock lies in the first of those folders this process may write, so processes on several
    machines sharing one environment on a network filesystem (a cluster's shards) meet at one
    lock, whatever their temporary folders. The temporary folder, named after the librosa
    installation, is the last resort.
    """
    spec = importlib.util.find_spec("librosa")
    if spec is None or spec.origin is None:
        raise ModuleNotFoundError("librosa is not installed")
    package = Path(spec.origin).resolve().parent
    override = os.environ.get("NUMBA_CACHE_DIR")
    from numba.misc.appdirs import AppDirs  # numba's own per-user cache folder

    candidates = [Path(override)] if override else []
    candidates += [package / "__pycache__", Path(AppDirs(appname="numba", appauthor=False).user_cache_dir)]
    found = []
    for folder in candidates:
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError:
            continue
        if os.access(folder, os.W_OK):
            found.append(folder / "emoprobe-numba.lock")
    where = f"{package}\n{override or ''}"
    return found + [Path(tempfile.gettempdir()) / f"emoprobe-numba-{hashlib.sha256(where.encode()).hexdigest()[:16]}.lock"]


def lock_path() -> Path:
    """The lock this process takes first (:func:`lock_paths`)."""
    return lock_paths()[0]


def _acquire() -> Any:
    """Take the first lock of :func:`lock_paths` this process can open, saying so when it must wait.

    The lock file is made writable by everyone (mode 0o666), so that another user of a shared
    environment can take it too; one another user made before that, which this process may not
    open, is passed over for the next folder.
    """
    from filelock import FileLock, Timeout

    *earlier, last = lock_paths()
    for path in earlier:
        try:
            return _take(FileLock(str(path), mode=0o666), Timeout)
        except PermissionError:
            continue
    return _take(FileLock(str(last), mode=0o666), Timeout)


def _take(lock: Any, timeout_error: type) -> Any:
    try:
        lock.acquire(timeout=_QUIET_WAIT_S)
    except timeout_error:
        print(f"emoprobe: waiting for another process to compile librosa's numba kernels ({lock.lock_file})",
              file=sys.stderr, flush=True)
        lock.acquire()
    return lock


def import_librosa() -> ModuleType:
    """Return ``librosa`` once its cached kernels are compiled, compiling them under the lock.

    The first call in a process takes the lock and imports ``KERNEL_MODULES``;
    later calls return at once.
    """
    global _COMPILED
    if not _COMPILED:
        lock = _acquire()
        try:
            for name in KERNEL_MODULES:
                importlib.import_module(name)
        finally:
            lock.release()
        _COMPILED = True
    import librosa

    return librosa
