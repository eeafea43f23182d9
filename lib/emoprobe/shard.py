"""Sharded generation: split the planned samples, generate one share anywhere.

``shard_specs`` splits the configuration's planned samples into ``n``
disjoint shards that together cover the plan. ``generate_shard`` makes the
samples of one shard in the shared, content-addressed store. Because a
sample's folder is named by the hash of everything that shapes it, shards
written by different machines merge by themselves: the suite, run afterwards
on the same cache folder, finds every sample and never loads the model. A
rerun of a finished shard generates nothing, and a killed shard resumes where
it stopped (the store saves per batch, under its file lock).

How the plan is split, and why: the planned list is cut into the generation
batches an unsharded run would make (consecutive runs of ``batch_size``
samples, in plan order), and batch ``b`` goes to shard ``b mod n``. A
sample's codes depend only on its seed, but its audio and time-binned
activations differ in the last float bit with its batch-mates (the kernels
block differently per batch shape), so keeping the unsharded run's batches is
what makes the union of the shards equal an unsharded run bit for bit.
Round-robin over batches, rather than contiguous blocks, keeps the shards the
same size to within one batch. A hash of the sample key would keep shard
membership stable when the plan grows, but would break up the batches; since
the store keys on content, a grown plan never regenerates a stored sample
whichever shard it lands in, so that stability would buy nothing.

Locking: the store's generation lock is named by the hash of the sample keys
asked for, so two launches of the same shard take the same lock (one
generates, the other then loads) and different shards run side by side. A
suite run started while shards are still generating asks for another key set
and may generate a sample a shard is also making; the store's atomic rename
keeps the first copy, so that costs compute, never correctness. The lock is ``filelock``'s ``flock``: on a cluster the cache
folder needs a filesystem where it works across nodes (NFSv4, Lustre mounted
with ``-o flock``).
"""

from __future__ import annotations

import re
import sys
from typing import Sequence, TypeVar

from .config import ExperimentConfig, SampleSpec, plan_samples
from .models import ModelInfo
from .store import EnsureReport, KeyParams, SampleStore, sample_key

T = TypeVar("T")

_SHARD_PATTERN = re.compile(r"^\s*(-?\d+)\s*/\s*(-?\d+)\s*$")


class ShardError(ValueError):
    """A shard was named that cannot exist."""


def check_shard(index: int, count: int) -> None:
    """Raise ShardError unless ``index`` names one of ``count`` shards (numbered from 0)."""
    if count < 1:
        raise ShardError(f"shard count must be at least 1, got {count}")
    if not 0 <= index < count:
        raise ShardError(
            f"shard {index}/{count}: the index must lie in 0..{count - 1} (shards are numbered from 0)")


def parse_shard(text: str) -> tuple[int, int]:
    """``"i/n"`` -> ``(i, n)``: shard ``i`` of ``n``, numbered from 0 like submitit's array tasks."""
    match = _SHARD_PATTERN.match(str(text))
    if match is None:
        raise ShardError(f"shard {text!r}: write it as i/n, e.g. 0/4 for the first of four shards")
    index, count = int(match.group(1)), int(match.group(2))
    check_shard(index, count)
    return index, count


def shard_specs(specs: Sequence[T], index: int, count: int, batch_size: int = 1) -> list[T]:
    """The specs of shard ``index`` of ``count``, in plan order.

    Method (see the module docstring): cut ``specs`` into consecutive batches
    of ``batch_size`` and give batch ``b`` to shard ``b mod count``. The shards
    are disjoint, cover ``specs``, and depend on nothing but the arguments.
    With ``batch_size=1`` this is plain index modulo ``count``.
    """
    check_shard(index, count)
    if batch_size < 1:
        raise ShardError(f"batch_size must be at least 1, got {batch_size}")
    return [spec for position, spec in enumerate(specs) if (position // batch_size) % count == index]


def planned_shard(config: ExperimentConfig, index: int, count: int):
    """The SampleSpecs of one shard of ``config``'s plan (extremes included, as the suite asks)."""
    # With batch_size "auto" batches depend on each machine's free memory, so
    # bit-for-bit agreement with an unsharded run is not promised; split by sample.
    batch = config.generation.batch_size
    return shard_specs(plan_samples(config), index, count, batch if isinstance(batch, int) else 1)


def shard_keys(config: ExperimentConfig, info: ModelInfo, specs: Sequence[SampleSpec]) -> list[str]:
    params = KeyParams.from_config(config, info.identity)
    return [sample_key(spec, params) for spec in specs]


def generate_shard(config: ExperimentConfig, info: ModelInfo, index: int, count: int,
                   store: SampleStore | None = None, progress: bool = True,
                   device: str | None = None) -> EnsureReport:
    """Ensure the samples of shard ``index``/``count`` are in the store; what was done.

    Runs anywhere that sees the cache folder (a submitit job, a shell, a
    test). Generation goes through ``dataset.collect_samples``, so per-batch
    saving, checksums and the model-load journal apply as in the suite; the
    lock is the shard's own (see the module docstring).
    """
    from .dataset import collect_samples

    specs = planned_shard(config, index, count)
    keys = shard_keys(config, info, specs)
    root = store.root if store is not None else config.cache_dir
    shard_store = store if store is not None else SampleStore(root)
    # One line for the job's log: what this launch found before taking the lock.
    missing = sum(not shard_store.exists(key) for key in keys)
    print(f"emoprobe shard {index}/{count}: {len(specs)} samples, {missing} missing from {root}",
          file=sys.stderr, flush=True)
    _, report = collect_samples(config, info, shard_store, progress=progress, device=device, specs=specs)
    return report


def missing_samples(config: ExperimentConfig, info: ModelInfo, store: SampleStore | None = None) -> int:
    """How many of the plan's samples the store lacks (presence only; loading verifies checksums)."""
    store = store or SampleStore(config.cache_dir)
    return sum(not store.exists(key) for key in shard_keys(config, info, plan_samples(config)))
