"""The nightly replication run, as one command any scheduler can call.

``python -m emoprobe.nightly`` (``scripts/nightly.sh``, ``make nightly``):

1. derives the night's base seed from the date (recorded in the record's
   provenance and printed), so each night is an independent replicate and a
   rerun of the same night draws the same samples;
2. runs the suite on the experiment's model, through the sharded launcher when
   ``--shards`` is given (``--then-run-suite``), with the history kept at a
   persistent path outside ``reports/``;
3. leaves ``report.html``, ``decision.json`` and ``layers.csv`` in a folder
   named by the date (the artifacts to upload);
4. writes the verdict and criteria table to ``$GITHUB_STEP_SUMMARY`` if set;
5. exits 0 whatever the verdict (claims that fail are a research result), and
   with the run's own code (2 or more) only when the run itself failed.

Every option has an environment variable, so a workflow sets variables, not
command lines: EMOPROBE_DATE, EMOPROBE_MODEL, EMOPROBE_EXPERIMENT,
EMOPROBE_CACHE_DIR, EMOPROBE_HISTORY, EMOPROBE_REPORTS_DIR,
EMOPROBE_N_PER_EMOTION, EMOPROBE_EXECUTOR, EMOPROBE_SHARDS, EMOPROBE_WORKERS.
"""

from __future__ import annotations

import argparse
import datetime
import hashlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Sequence

from .exports import step_summary_markdown

REPO_ROOT = Path(__file__).resolve().parents[2]
RUN_FAILED = 2  # the run itself failed: no record was written


def seed_for_date(date: str) -> int:
    """The night's base seed: a hash of the date, in the store's seed range."""
    datetime.date.fromisoformat(date)  # a malformed date is an error, not a new seed
    digest = hashlib.sha256(f"emoprobe-nightly:{date}".encode()).digest()
    return int.from_bytes(digest[:4], "big") % 2**31


def build_parser() -> argparse.ArgumentParser:
    env = os.environ.get
    parser = argparse.ArgumentParser(prog="python -m emoprobe.nightly", description=__doc__.split("\n\n")[0])
    parser.add_argument("--date", default=env("EMOPROBE_DATE") or datetime.datetime.now(datetime.timezone.utc)
                        .date().isoformat(), help="the night (YYYY-MM-DD); its hash is the base seed")
    parser.add_argument("--model", action="append", default=[m for m in env("EMOPROBE_MODEL", "").split() if m]
                        or None, help="model(s); default: the experiment's")
    parser.add_argument("--experiment", default=env("EMOPROBE_EXPERIMENT"))
    parser.add_argument("--cache-dir", default=env("EMOPROBE_CACHE_DIR", ".cache/emoprobe"))
    parser.add_argument("--history", default=env("EMOPROBE_HISTORY", ".cache/nightly/history.jsonl"),
                        help="persistent history (JSON lines) outside reports/")
    parser.add_argument("--reports-dir", default=env("EMOPROBE_REPORTS_DIR", "reports/nightly"),
                        help="each night's artifacts go to REPORTS_DIR/DATE/")
    parser.add_argument("--n-per-emotion", type=int, default=env("EMOPROBE_N_PER_EMOTION"))
    parser.add_argument("--executor", default=env("EMOPROBE_EXECUTOR", "local"),
                        help="launcher executor when --shards is given")
    parser.add_argument("--shards", type=int, default=int(env("EMOPROBE_SHARDS") or 0),
                        help="generate through the sharded launcher first (0: the suite generates)")
    parser.add_argument("--workers", default=env("EMOPROBE_WORKERS", "auto"), help="pytest -n")
    parser.add_argument("pytest_args", nargs=argparse.REMAINDER, help="after --: extra arguments for pytest")
    return parser


def suite_command(args: argparse.Namespace, seed: int, out_dir: Path) -> list[str]:
    experiment = []
    for option, value in (("--experiment", args.experiment), ("--n-per-emotion", args.n_per_emotion),
                          ("--cache-dir", args.cache_dir)):
        if value is not None:
            experiment += [option, str(Path(value).resolve()) if option != "--n-per-emotion" else str(value)]
    for model in args.model or []:
        experiment += ["--model", model]
    report = ["--history", str(Path(args.history).resolve()), f"--html={out_dir / 'report.html'}",
              "--self-contained-html", "-p", "no:cacheprovider"]
    extra = [a for a in (args.pytest_args or []) if a != "--"]
    if args.shards:
        return [sys.executable, "-m", "emoprobe.launch", "--executor", args.executor, "--shards", str(args.shards),
                "--seed", str(seed), "--no-progress", "--then-run-suite", *experiment, "--", *report, *extra]
    return [sys.executable, "-m", "pytest", "hypotheses/", "-n", str(args.workers), "--seed", str(seed),
            *experiment, *report, *extra]


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        seed = seed_for_date(args.date)
    except ValueError:
        print(f"emoprobe.nightly: --date must be YYYY-MM-DD, got {args.date!r}", file=sys.stderr)
        return RUN_FAILED
    out_dir = (Path(args.reports_dir) / args.date).resolve()
    out_dir.mkdir(parents=True, exist_ok=True)
    Path(args.history).resolve().parent.mkdir(parents=True, exist_ok=True)
    record_path = out_dir / "decision.json"
    started = time.time()
    command = suite_command(args, seed, out_dir)
    print(f"emoprobe.nightly: night {args.date}, base seed {seed}; artifacts in {out_dir}", flush=True)
    print("emoprobe.nightly: running " + " ".join(command), flush=True)
    status = subprocess.call(command, cwd=REPO_ROOT)

    wrote_record = record_path.exists() and record_path.stat().st_mtime >= started
    if status not in (0, 1) or not wrote_record:
        print(f"emoprobe.nightly: the run failed (exit {status}, "
              f"{'a' if wrote_record else 'no'} decision record written)", file=sys.stderr)
        return status if status >= RUN_FAILED else RUN_FAILED
    record = json.loads(record_path.read_text())
    summary = os.environ.get("GITHUB_STEP_SUMMARY")
    if summary:
        with open(summary, "a") as handle:
            handle.write(step_summary_markdown(record, str(out_dir / "report.html")))
    print(f"emoprobe.nightly: {record['verdict']} ({'claims failed: a result' if status else 'all claims passed'}); "
          f"artifacts: {out_dir / 'report.html'}, {record_path}, {out_dir / 'layers.csv'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
