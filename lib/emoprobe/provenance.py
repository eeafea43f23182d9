"""What a run was, so that its record can be reproduced: code, command, configuration, machine, model.

Every probe degrades to a value that says why it is unknown ("no GPU",
"not a git checkout"), never to an exception: provenance must not stop a run.
"""

from __future__ import annotations

import platform
import shutil
import subprocess
import sys
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Sequence

# The packages whose versions can change a number in the record.
PACKAGES = ("torch", "torchaudio", "audiocraft", "transformers", "xformers", "numpy", "scipy", "scikit-learn",
            "pingouin", "librosa", "essentia", "soundfile", "pytest", "pytest-html", "pytest-xdist", "filelock",
            "matplotlib", "pandas", "huggingface-hub")


def package_versions(packages: Sequence[str] = PACKAGES) -> dict[str, str]:
    versions = {"python": sys.version.split()[0]}
    for package in packages:
        try:
            versions[package] = version(package)
        except PackageNotFoundError:
            versions[package] = "absent"
    return versions


def _run(command: Sequence[str], cwd: Path | None = None) -> str | None:
    try:
        result = subprocess.run(list(command), capture_output=True, text=True, cwd=cwd, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    return result.stdout.strip() if result.returncode == 0 else None


def git_state(repo: Path) -> dict[str, object]:
    """Commit and whether the working tree differs from it (tracked and untracked files)."""
    commit = _run(["git", "rev-parse", "HEAD"], repo)
    if commit is None:
        return {"git_commit": "not a git checkout", "git_dirty": None}
    status = _run(["git", "status", "--porcelain", "--untracked-files=normal"], repo)
    return {"git_commit": commit, "git_dirty": bool(status) if status is not None else None}


def machine() -> dict[str, object]:
    """Host, CPU, and the GPU with its CUDA runtime and driver, if any."""
    facts: dict[str, object] = {"host": platform.node(), "platform": platform.platform(),
                                "cpu": platform.processor() or platform.machine()}
    try:
        import torch
    except ImportError:
        return {**facts, "gpu": "torch absent"}
    if not torch.cuda.is_available():
        return {**facts, "gpu": "no GPU (CPU run)", "cuda": torch.version.cuda or "CPU build of torch"}
    driver = None
    if shutil.which("nvidia-smi"):
        driver = _run(["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"])
    names = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
    return {**facts, "gpu": ", ".join(names), "cuda": torch.version.cuda,
            "gpu_driver": (driver or "unknown").splitlines()[0]}


def hub_revision(model_name: str, kind: str) -> str:
    """The commit of a hub model's weights in the local cache (what generation loaded)."""
    if kind != "hub":
        return f"not a hub model ({kind})"
    try:
        from huggingface_hub import snapshot_download

        return Path(snapshot_download(model_name, local_files_only=True)).name
    except Exception as err:  # not cached yet, or no huggingface_hub: say so
        return f"unknown ({type(err).__name__})"


def command_line(argv: Sequence[str] | None = None) -> str:
    import shlex

    return " ".join(shlex.quote(a) for a in (sys.argv if argv is None else argv))


def config_text(path: Path | str | None) -> str:
    try:
        return Path(path).read_text() if path else ""
    except OSError as err:
        return f"unreadable: {err}"
