"""Launch sharded generation through submitit, wait, report, then (optionally) run the suite.

    python -m emoprobe.launch --executor slurm --shards 16 --model facebook/musicgen-large \\
        --cache-dir /shared/emoprobe-cache --then-run-suite

Each shard is one submitit job calling ``emoprobe.shard.generate_shard`` on
the shared cache folder; see that module for how the plan is split. With
several ``--model`` (as the suite takes them), each model's plan is split into
``--shards`` shards, one job per model and shard, so that a job loads one
model. Executors:

* ``slurm``: one job array, ``--array-parallelism`` shards at a time, each
  with ``--gpus-per-task`` GPUs on ``--partition`` for ``--timeout-min``.
  The cache folder and the log folder must be on a filesystem the nodes share.
* ``local``: one process per shard on this machine, shard ``i`` pinned to GPU
  ``i mod G`` (through ``CUDA_VISIBLE_DEVICES``) when it has ``G`` GPUs; on a
  CPU-only machine the shards share the cores. Use as many shards as GPUs.
* ``debug``: in this process, one shard after the other (for debugging).

Cluster settings come from the options, with defaults from the optional
``[cluster]`` table of the experiment TOML (the suite itself ignores it).
Once every shard has finished, the launcher prints each shard's EnsureReport
and checks that the cache holds the whole plan; ``--then-run-suite`` then runs
``pytest hypotheses/ -n auto`` with the same experiment options on that cache,
where no worker loads the model because nothing is missing. Arguments after
``--`` go to pytest unchanged.

Exit status: 0 when every shard finished (and the suite passed, if run), 1
when a shard failed or the cache is incomplete (or the suite's own status),
2 for a bad configuration or option.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tomllib
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Sequence

from .config import DEFAULT_CONFIG_PATH, REPO_ROOT, ConfigError, ExperimentConfig, Overrides, load_config
from .models import ModelInfo, ModelNotFoundError, check_layers, describe_model
from .shard import ShardError, generate_shard, missing_samples, parse_shard, planned_shard
from . import steering
from .store import EnsureReport, SampleStore

EXECUTORS = ("slurm", "local", "debug")
JOB_NAME = "emoprobe-generate"


@dataclass(frozen=True)
class ClusterSettings:
    """Resources of one shard job. ``partition=None``: the cluster's default partition."""

    partition: str | None = None
    gpus_per_task: int = 1
    cpus_per_task: int = 8
    mem_gb: float | None = None
    timeout_min: int = 180
    array_parallelism: int = 8


def read_cluster_settings(experiment_path: str | Path | None) -> ClusterSettings:
    """The ``[cluster]`` table of the experiment TOML (absent: the defaults above)."""
    path = Path(experiment_path) if experiment_path else DEFAULT_CONFIG_PATH
    try:
        table = dict(tomllib.loads(path.read_text()).get("cluster", {}))
    except (OSError, tomllib.TOMLDecodeError) as err:
        # load_config reads the same file and reports its problems in full.
        raise ConfigError(f"cannot read the [cluster] table of {path}: {err}") from None
    known = {f.name: f.type for f in fields(ClusterSettings)}
    unknown = sorted(set(table) - set(known))
    if unknown:
        raise ConfigError(f"[cluster] in {path}: unknown key(s) {unknown}; known: {sorted(known)}")
    if table.get("partition") == "":
        table["partition"] = None  # TOML has no null: "" means the cluster's default
    settings = ClusterSettings(**table)
    check_cluster_settings(settings)
    return settings


def check_cluster_settings(settings: ClusterSettings) -> None:
    for name in ("gpus_per_task", "cpus_per_task", "timeout_min", "array_parallelism"):
        value = getattr(settings, name)
        if not isinstance(value, int) or value < (0 if name == "gpus_per_task" else 1):
            raise ConfigError(f"cluster setting {name} = {value!r} must be a "
                              f"{'non-negative' if name == 'gpus_per_task' else 'positive'} integer")
    if settings.mem_gb is not None and not settings.mem_gb > 0:
        raise ConfigError(f"cluster setting mem_gb = {settings.mem_gb!r} must be positive")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m emoprobe.launch",
        description="Generate the experiment's samples in shards through submitit, then run the suite.")
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--executor", choices=EXECUTORS,
                      help="slurm (a job array), local (one process per shard and GPU), debug (in-process)")
    mode.add_argument("--shard", metavar="I/N",
                      help="generate shard I of N right here, with no scheduler (any machine that sees the cache)")
    parser.add_argument("--shards", type=int, default=None, help="number of shards (with --executor)")
    experiment = parser.add_argument_group("experiment (passed on to the suite unchanged)")
    experiment.add_argument("--experiment", default=None, help="experiment TOML (default: configs/experiment.toml)")
    experiment.add_argument("--model", action="append", default=None,
                            help="as the suite's --model; repeat for several models (each gets --shards shards)")
    experiment.add_argument("--cache-dir", default=None,
                            help="the shared sample store (default .cache/emoprobe); on slurm, on a shared filesystem")
    experiment.add_argument("--n-per-emotion", type=int, default=None, help="samples per emotion")
    experiment.add_argument("--seed", type=int, default=None,
                            help="base seed of the plan (for nightly reruns: draw one here, the suite gets the same)")
    experiment.add_argument("--emotions", default=None, help="comma-separated subset of the config's emotions")
    experiment.add_argument("--steer", action="store_true",
                            help="then generate the steered samples of the causal-evidence claim, in as many shards "
                                 "(they need the whole emotion study in the cache: with --shard, run it last)")
    cluster = parser.add_argument_group("cluster (defaults from the experiment's [cluster] table)")
    cluster.add_argument("--partition", default=None, help="slurm partition")
    cluster.add_argument("--gpus-per-task", type=int, default=None, help="GPUs per shard job (slurm)")
    cluster.add_argument("--cpus-per-task", type=int, default=None, help="CPU cores per shard job (slurm)")
    cluster.add_argument("--mem-gb", type=float, default=None, help="memory per shard job (slurm)")
    cluster.add_argument("--timeout-min", type=int, default=None, help="time limit per shard job, minutes")
    cluster.add_argument("--array-parallelism", type=int, default=None,
                         help="shards running at once (slurm job array)")
    parser.add_argument("--log-dir", default=None,
                        help="submitit's job folder (default: <cache-dir>/submitit); on slurm, shared")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    parser.add_argument("--then-run-suite", action="store_true",
                        help="after the shards, run pytest hypotheses/ -n auto on the merged cache")
    parser.add_argument("pytest_args", nargs=argparse.REMAINDER,
                        help="after --: extra arguments for the suite's pytest run")
    return parser


def experiment_overrides(args: argparse.Namespace) -> Overrides:
    # An absolute cache folder: the jobs may start in another working directory.
    cache_dir = str(Path(args.cache_dir).expanduser().resolve()) if args.cache_dir else None
    return Overrides(model=args.model, n_per_emotion=args.n_per_emotion, seed=args.seed,
                     cache_dir=cache_dir, emotions=args.emotions, steer=args.steer)


def cluster_settings(args: argparse.Namespace) -> ClusterSettings:
    """The [cluster] table, overridden by whichever options were given."""
    settings = read_cluster_settings(args.experiment)
    given = {name: getattr(args, name) for name in
             ("partition", "gpus_per_task", "cpus_per_task", "mem_gb", "timeout_min", "array_parallelism")
             if getattr(args, name) is not None}
    settings = replace(settings, **given)
    check_cluster_settings(settings)
    return settings


def make_executor(kind: str, folder: str | Path, settings: ClusterSettings):
    """A submitit executor for ``kind``, with the shard jobs' resources set."""
    import submitit

    if kind == "local":
        # LocalExecutor directly: AutoExecutor does not pass visible_gpus on,
        # which is what pins each shard to its own GPU (set per submission).
        executor = submitit.LocalExecutor(folder=str(folder))
        executor.update_parameters(timeout_min=settings.timeout_min, tasks_per_node=1)
        return executor
    executor = submitit.AutoExecutor(folder=str(folder), cluster=kind)
    parameters = dict(name=JOB_NAME, timeout_min=settings.timeout_min, tasks_per_node=1, nodes=1,
                      gpus_per_node=settings.gpus_per_task, cpus_per_task=settings.cpus_per_task,
                      mem_gb=settings.mem_gb, slurm_array_parallelism=settings.array_parallelism)
    if settings.partition:
        parameters["slurm_partition"] = settings.partition
    executor.update_parameters(**parameters)
    return executor


def local_gpu_count() -> int:
    import torch

    return torch.cuda.device_count()


@dataclass(frozen=True)
class ShardTask:
    """One job: shard ``index`` of ``count`` of one model's plan."""

    config: ExperimentConfig  # restricted to the task's model
    info: ModelInfo
    index: int
    count: int

    @property
    def label(self) -> str:
        return f"{self.index}/{self.count}"


def shard_tasks(config: ExperimentConfig, infos: Sequence[ModelInfo], n_shards: int) -> list[ShardTask]:
    """Model by model, shard by shard; ``infos`` in the order of ``config.models``."""
    return [ShardTask(config.for_model(name), info, index, n_shards)
            for name, info in zip(config.models, infos) for index in range(n_shards)]


def submit_shards(executor, kind: str, tasks: Sequence[ShardTask], progress: bool = True,
                  generate=generate_shard) -> list:
    """One job per task, in task order (``generate``: the emotion study's shards, or the steered samples')."""
    if kind == "local":
        n_gpus = local_gpu_count()
        jobs = []
        for number, task in enumerate(tasks):
            if n_gpus:
                executor.update_parameters(gpus_per_node=1, visible_gpus=(number % n_gpus,))
            else:
                executor.update_parameters(gpus_per_node=0, visible_gpus=())
            jobs.append(executor.submit(generate, task.config, task.info, task.index, task.count,
                                        None, progress))
        return jobs
    # slurm: one job array (array_parallelism caps how many run at once); debug: in turn.
    return executor.map_array(generate, [t.config for t in tasks], [t.info for t in tasks],
                              [t.index for t in tasks], [t.count for t in tasks], [None] * len(tasks),
                              [progress] * len(tasks))


@dataclass
class ShardOutcome:
    task: ShardTask
    job_id: str
    report: EnsureReport | None = None
    error: str | None = None
    log: str | None = None


def wait_for(tasks: Sequence[ShardTask], jobs: Sequence, poll_s: float = 2.0,
             progress: bool = True) -> list[ShardOutcome]:
    """Wait for every job; each shard's EnsureReport, or its error and log file."""
    import submitit
    from tqdm.auto import tqdm

    outcomes = {id(job): ShardOutcome(task, str(job.job_id)) for task, job in zip(tasks, jobs)}
    with tqdm(total=len(jobs), desc="shards finished", unit="shard", disable=not progress,
              file=sys.stderr) as bar:
        for job in submitit.helpers.as_completed(list(jobs), poll_frequency=poll_s):
            outcome = outcomes[id(job)]
            try:
                outcome.report = job.result()
            except Exception as err:  # a failed, killed or timed-out job: reported, not raised
                outcome.error = (str(err).strip().splitlines() or [type(err).__name__])[-1][:300]
                outcome.log = str(job.paths.stderr)
            bar.update(1)
    return [outcomes[id(job)] for job in jobs]


def format_outcomes(outcomes: Sequence[ShardOutcome]) -> str:
    """A table of the shards' EnsureReports, one row per job, and the totals."""
    width = max([len("model")] + [len(o.task.info.name) for o in outcomes])
    header = (f"{'model':<{width}} {'shard':>7} {'job':>14} {'requested':>9} {'loaded':>7} {'generated':>9} "
              f"{'damaged':>7} {'model loaded':>12} {'s generating':>12}")
    lines = [header]
    totals = EnsureReport()
    for outcome in outcomes:
        shard = f"{outcome.task.info.name:<{width}} {outcome.task.label:>7}"
        if outcome.report is None:
            lines.append(f"{shard} {outcome.job_id:>14} FAILED: {outcome.error} (log: {outcome.log})")
            continue
        r = outcome.report
        lines.append(f"{shard} {outcome.job_id:>14} {r.requested:>9} {r.loaded:>7} {r.generated:>9} "
                     f"{len(r.damaged):>7} {'yes' if r.model_loaded else 'no':>12} {r.seconds_generating:>12.1f}")
        totals.requested += r.requested
        totals.loaded += r.loaded
        totals.generated += r.generated
        totals.damaged += r.damaged
        totals.seconds_generating += r.seconds_generating
    lines.append(f"{'all':<{width}} {'':>7} {'':>14} {totals.requested:>9} {totals.loaded:>7} {totals.generated:>9} "
                 f"{len(totals.damaged):>7} {'':>12} {totals.seconds_generating:>12.1f}")
    return "\n".join(lines)


def suite_command(args: argparse.Namespace, config: ExperimentConfig) -> list[str]:
    """``pytest hypotheses/ -n auto`` with the options that chose this plan, on the same cache."""
    command = [sys.executable, "-m", "pytest", "hypotheses/", "-n", "auto"]
    for name in config.models:
        command += ["--model", name]
    command += ["--cache-dir", str(config.cache_dir)]
    for option, value in (("--experiment", args.experiment), ("--n-per-emotion", args.n_per_emotion),
                          ("--seed", args.seed), ("--emotions", args.emotions)):
        if value is not None:
            command += [option, str(Path(value).resolve()) if option == "--experiment" else str(value)]
    if getattr(args, "steer", False):
        command.append("--steer")
    extra = list(args.pytest_args or [])
    if extra[:1] == ["--"]:
        extra = extra[1:]
    return command + extra


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.pytest_args and args.pytest_args[0] != "--":
        parser.error(f"unrecognised arguments: {' '.join(args.pytest_args)} (pytest arguments go after --)")
    try:
        if args.shard is not None:
            index, count = parse_shard(args.shard)
        elif args.shards is None or args.shards < 1:
            raise ShardError(f"--shards must be at least 1, got {args.shards}")
        config = load_config(args.experiment, experiment_overrides(args))
        infos = [describe_model(name) for name in config.models]
        for info in infos:  # before the emotion study, not when its steering shards start
            steering.check_steered_layers(config, check_layers(config.capture.layers, info), info.name)
        settings = cluster_settings(args)
    except (ConfigError, ModelNotFoundError, ShardError) as err:
        print(f"emoprobe.launch: {err}", file=sys.stderr)
        return 2

    progress = not args.no_progress
    if args.shard is not None:
        for name, info in zip(config.models, infos):
            report = generate_shard(config.for_model(name), info, index, count, progress=progress)
            print(f"emoprobe.launch: {info.name} shard {index}/{count}: generated {report.generated}, "
                  f"loaded {report.loaded} of {report.requested}")
            if config.steering.enabled:
                report = steering.generate_steering_shard(config.for_model(name), info, index, count,
                                                          progress=progress)
                print(f"emoprobe.launch: {info.name} steering shard {index}/{count}: generated {report.generated}, "
                      f"loaded {report.loaded} of {report.requested}")
        return 0
    folder = Path(args.log_dir).expanduser().resolve() if args.log_dir else Path(config.cache_dir) / "submitit"
    if args.executor == "slurm":
        folder = folder / "%j"  # submitit names each job's files by its id
    tasks = shard_tasks(config, infos, args.shards)
    sizes = [len(planned_shard(t.config, t.index, t.count)) for t in tasks]
    print(f"emoprobe.launch: {sum(sizes)} samples of {', '.join(i.label for i in infos)} in {len(tasks)} jobs "
          f"({args.shards} shards per model, {min(sizes)}-{max(sizes)} samples each) on {args.executor}; "
          f"cache {config.cache_dir}; logs {folder}")
    executor = make_executor(args.executor, folder, settings)
    jobs = submit_shards(executor, args.executor, tasks, progress)
    try:
        outcomes = wait_for(tasks, jobs, poll_s=30.0 if args.executor == "slurm" else 1.0, progress=progress)
    except KeyboardInterrupt:
        for job in jobs:
            job.cancel(check=False)
        print("emoprobe.launch: interrupted; shard jobs cancelled (a rerun resumes them)", file=sys.stderr)
        return 130
    print(format_outcomes(outcomes))

    missing = sum(missing_samples(config.for_model(name), info) for name, info in zip(config.models, infos))
    failed = [f"{o.task.info.name} {o.task.label}" for o in outcomes if o.report is None]
    if failed or missing:
        print(f"emoprobe.launch: failed: {failed or 'none'}; {missing} samples missing from the cache. "
              "Relaunch (finished shards generate nothing) before running the suite.", file=sys.stderr)
        return 1
    print(f"emoprobe.launch: cache complete ({sum(sizes)} samples)")
    if config.steering.enabled:
        # The steered samples' directions come from the whole emotion study: a second round of shards.
        jobs = submit_shards(executor, args.executor, tasks, progress, generate=steering.generate_steering_shard)
        outcomes = wait_for(tasks, jobs, poll_s=30.0 if args.executor == "slurm" else 1.0, progress=progress)
        print(format_outcomes(outcomes))
        missing = sum(steering.missing_samples(config.for_model(name), info, SampleStore(config.cache_dir))
                      for name, info in zip(config.models, infos))
        if missing or any(o.report is None for o in outcomes):
            print(f"emoprobe.launch: {missing} steered samples missing from the cache; relaunch.", file=sys.stderr)
            return 1
        print("emoprobe.launch: steered samples complete")
    if not args.then_run_suite:
        return 0
    command = suite_command(args, config)
    print("emoprobe.launch: running " + " ".join(command), flush=True)
    return subprocess.call(command, cwd=REPO_ROOT)


if __name__ == "__main__":
    sys.exit(main())
