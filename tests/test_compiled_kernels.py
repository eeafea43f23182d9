"""librosa's cached numba kernels survive processes that compile them at once (emoprobe.compiled_kernels)."""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from filelock import FileLock

from emoprobe import compiled_kernels

COMPILE = "from emoprobe.compiled_kernels import import_librosa; import_librosa()"
# One call of each kernel family that a broken cache crashes: peak picking (onsets), the beat
# tracker, zero crossings and yin's parabolic interpolation.
RUN_KERNELS = """
import numpy as np
from emoprobe.compiled_kernels import import_librosa
librosa = import_librosa()
rng = np.random.default_rng(0)
x = rng.random(4000).astype(np.float32)
librosa.util.peak_pick(x, pre_max=3, post_max=3, pre_avg=3, post_avg=5, delta=0.1, wait=10)
librosa.beat.beat_track(y=rng.standard_normal(22050 * 3).astype(np.float32), sr=22050)
librosa.zero_crossings(x - 0.5)
librosa.yin(rng.standard_normal(22050).astype(np.float32), fmin=80, fmax=800, sr=22050)
print("kernels ran")
"""


def _env(cache: Path) -> dict[str, str]:
    return dict(os.environ, NUMBA_CACHE_DIR=str(cache))


def test_processes_compiling_on_a_cold_cache_at_once_leave_kernels_that_run(tmp_path):
    # Without the lock, two processes on a cold cache left a peak_pick that crashed every later
    # process with SIGSEGV in 6 of 6 tries (and 2 workers of `make test` did the same in CI).
    env = _env(tmp_path / "numba")
    compilers = [subprocess.Popen([sys.executable, "-c", COMPILE], env=env, stderr=subprocess.PIPE, text=True)
                 for _ in range(2)]
    outcomes = [(p.wait(timeout=600), p.stderr.read()) for p in compilers]
    assert [code for code, _ in outcomes] == [0, 0], outcomes
    assert any(p.suffix == ".nbi" for p in (tmp_path / "numba").rglob("*")), "numba cached nothing: the test tests nothing"
    after = subprocess.run([sys.executable, "-c", RUN_KERNELS], env=env, capture_output=True, text=True, timeout=600)
    assert after.returncode == 0, (after.returncode, after.stderr[-3000:])
    assert "kernels ran" in after.stdout


def test_a_process_waits_for_the_lock_and_says_why(tmp_path):
    env = _env(tmp_path / "numba")
    lock = FileLock(str(_lock_path_under(env)))
    # The child compiles nothing once it has the lock: the wait, not numba, is under test.
    take_lock_only = "import emoprobe.compiled_kernels as k; k.KERNEL_MODULES = (); k.import_librosa()"
    with lock:
        child = subprocess.Popen([sys.executable, "-c", take_lock_only], env=env, stderr=subprocess.PIPE, text=True)
        try:
            child.wait(timeout=compiled_kernels._QUIET_WAIT_S + 10)
            raise AssertionError("the import did not wait for the lock")
        except subprocess.TimeoutExpired:
            pass
    assert child.wait(timeout=600) == 0
    assert "waiting for another process to compile librosa's numba kernels" in child.stderr.read()


def _lock_path_under(env: dict[str, str]) -> Path:
    probe = subprocess.run([sys.executable, "-c", "from emoprobe.compiled_kernels import lock_path; print(lock_path())"],
                           env=env, capture_output=True, text=True, check=True)
    return Path(probe.stdout.strip())


def test_the_lock_lies_beside_numbas_cache_whatever_the_temporary_folder(tmp_path):
    # Shards of one environment on several machines have their own temporary folders (a cluster
    # sets TMPDIR per job) but write one cache: they must meet at one lock.
    assert _lock_path_under(_env(tmp_path / "a")) == tmp_path / "a" / "emoprobe-numba.lock"
    other_tmp = {**_env(tmp_path / "a"), "TMPDIR": str(tmp_path)}
    assert _lock_path_under(other_tmp) == _lock_path_under(_env(tmp_path / "a"))
    assert _lock_path_under(_env(tmp_path / "b")) != _lock_path_under(_env(tmp_path / "a"))
    without = {k: v for k, v in os.environ.items() if k != "NUMBA_CACHE_DIR"}
    librosa_cache = Path(importlib.util.find_spec("librosa").origin).resolve().parent / "__pycache__"
    assert _lock_path_under({**without, "TMPDIR": str(tmp_path)}) == librosa_cache / "emoprobe-numba.lock"


def test_every_librosa_module_that_declares_numba_ufuncs_is_compiled_under_the_lock():
    root = Path(importlib.util.find_spec("librosa").origin).parent
    declaring = set()
    for source in root.rglob("*.py"):
        # a numba (g)ufunc decorator with cache=True before its function's def (numpy's
        # np.vectorize, also spelt @vectorize in librosa, takes no cache argument)
        if re.search(r"@(numba\.)?(gu)?vectorize\((?:(?!\ndef ).)*?cache=True", source.read_text(encoding="utf-8"), re.S):
            parts = source.relative_to(root.parent).with_suffix("").parts
            declaring.add(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    assert declaring, "no kernel declarations found: the pattern no longer matches librosa's source"
    assert declaring <= set(compiled_kernels.KERNEL_MODULES), declaring - set(compiled_kernels.KERNEL_MODULES)


def test_a_lock_another_user_made_unopenable_is_passed_over_for_the_next_folder(tmp_path, monkeypatch):
    # A shared environment used by two accounts: the first one's lock file may not be opened by
    # the second (the reviewer's PermissionError as user nobody). Root opens everything, so the
    # refusal is simulated; the lock files this module makes are writable by everyone.
    import filelock

    first, second = tmp_path / "first.lock", tmp_path / "second.lock"
    monkeypatch.setattr(compiled_kernels, "lock_paths", lambda: [first, second])
    real = filelock.FileLock

    def refusing(path, *args, **kwargs):
        if path == str(first):
            raise PermissionError(13, "Permission denied", path)
        return real(path, *args, **kwargs)

    monkeypatch.setattr(filelock, "FileLock", refusing)
    lock = compiled_kernels._acquire()
    try:
        assert lock.lock_file == str(second) and lock.is_locked
        assert second.stat().st_mode & 0o777 == 0o666
    finally:
        lock.release()
    monkeypatch.setattr(compiled_kernels, "lock_paths", lambda: [first])
    with pytest.raises(PermissionError):
        compiled_kernels._acquire()
