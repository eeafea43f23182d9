"""The report at MusicGen-large's depth: how large is it, and how many rows does it hold?

Writes a tiny model with 48 transformer layers (musicgen-large's depth, tiny
width) as a checkpoint folder, runs the hypothesis suite on it with the
shipped experiment (4 emotions x 20 samples; permutation and bootstrap counts
cut so that it finishes on a CPU, which changes no row and no figure size),
and prints the report's size, its share in images and audio, and its row
count. The issue's goal: at most 1.5 MB at 48 layers.

    python bench/bench_report_size.py [--layers 48] [--out /tmp/report48]
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import time
from pathlib import Path

from emoprobe.config import REPO_ROOT
from emoprobe.models import build_tiny, write_checkpoint_folder

FAST = [("n_permutations = 10000", "n_permutations = 1000"), ("n_bootstrap = 2000", "n_bootstrap = 100"),
        ("probe_permutations = 1000", "probe_permutations = 50"), ("duration_s = 10.0", "duration_s = 3.0")]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--layers", type=int, default=48)
    parser.add_argument("--out", type=Path, default=Path("/tmp/emoprobe-report-size"))
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    model = write_checkpoint_folder(build_tiny(n_layers=args.layers), args.out / f"tiny-{args.layers}")
    text = (REPO_ROOT / "configs" / "experiment.toml").read_text()
    for old, new in FAST:
        if old not in text:
            raise SystemExit(f"the shipped experiment no longer has {old!r}: update FAST")
        text = text.replace(old, new)
    experiment = args.out / "experiment.toml"
    experiment.write_text(text)
    report = args.out / "report.html"
    report.unlink(missing_ok=True)  # a run that writes none must not be measured on an earlier run's report
    started = time.perf_counter()
    run = subprocess.run([sys.executable, "-m", "pytest", "hypotheses/", "-q", "-p", "no:cacheprovider",
                          "--model", str(model), "--experiment", str(experiment),
                          "--cache-dir", str(args.out / "cache"), f"--html={report}"],
                         cwd=REPO_ROOT, capture_output=True, text=True)
    if run.returncode not in (0, 1) or not report.exists():
        raise SystemExit(f"the suite failed (exit {run.returncode}):\n{run.stdout[-3000:]}{run.stderr[-3000:]}")
    page = report.read_text()
    images = sum(map(len, re.findall(r"data:image/png;base64,[A-Za-z0-9+/=]+", page)))
    audio = sum(map(len, re.findall(r"data:audio/[a-z]+;base64,[A-Za-z0-9+/=]+", page)))
    outcome = run.stdout.strip().splitlines()[-1]
    print(f"{args.layers} layers: report {len(page.encode()) / 1e6:.2f} MB (images {images / 1e6:.2f} MB, "
          f"audio {audio / 1e6:.2f} MB); pytest: {outcome}; suite {time.perf_counter() - started:.0f} s")
    print(f"{len(page.encode()) / 1e6:.3f}")


if __name__ == "__main__":
    main()
