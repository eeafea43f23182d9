"""The experiment file's schema: every key known, every value of its type and range.

``check_raw`` reads the parsed TOML before any dataclass is built, so a typo'd
key, a string where a list belongs or an out-of-range number stops the run
with one message (and a "did you mean" for near misses) instead of being
ignored, crashing pytest, or failing after generation.

The keys of ``[generation]``, ``[capture]``, ``[thresholds]``, ``[statistics]``
and ``[steering]`` are the fields of their dataclasses in ``config``, with
types read from the annotations, so a new field is known here without an edit.
"""

from __future__ import annotations

import collections.abc
import dataclasses
import difflib
import math
import re
import types
import typing
from typing import Any, Callable, Mapping

EMOTION_NAME = re.compile(r"^[A-Za-z0-9_-]+$")
METRICS = ("cosine", "pearson", "euclidean")


class SchemaError(ValueError):
    """Raised as ``config.ConfigError`` by the caller."""


def _hint(name: str, known: typing.Iterable[str]) -> str:
    close = difflib.get_close_matches(name, list(known), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _refuse_unknown(table: Mapping[str, Any], known: typing.Iterable[str], where: str) -> None:
    known = list(known)
    for key in table:
        if key not in known:
            raise SchemaError(f"{where}: unknown key {key!r}{_hint(key, known)}; known keys: {sorted(known)}")


def _type_name(kind: Any) -> str:
    return getattr(kind, "__name__", str(kind))


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _check_type(value: Any, kind: Any, where: str) -> None:
    """``value`` must be of annotation ``kind``: float takes int too, bool is never a number."""
    origin = typing.get_origin(kind)
    if origin in (typing.Union, types.UnionType):
        for option in typing.get_args(kind):
            try:
                return _check_type(value, option, where)
            except SchemaError:
                pass
        raise SchemaError(f"{where} = {value!r}: expected "
                          f"{' or '.join(_type_name(o) for o in typing.get_args(kind) if o is not type(None))}")
    if kind is type(None):
        if value is not None:
            raise SchemaError(f"{where} = {value!r}: expected nothing")
        return
    if kind is float:
        if not _is_number(value) or not math.isfinite(value):
            raise SchemaError(f"{where} = {value!r}: expected a number")
        return
    if kind is int:
        if not isinstance(value, int) or isinstance(value, bool):
            raise SchemaError(f"{where} = {value!r}: expected an integer")
        return
    if kind in (bool, str):
        if not isinstance(value, kind):
            raise SchemaError(f"{where} = {value!r}: expected {'true or false' if kind is bool else 'a string'}")
        return
    if origin in (tuple, list, collections.abc.Sequence):
        if not isinstance(value, (list, tuple)):
            raise SchemaError(f"{where} = {value!r}: expected a list")
        args = typing.get_args(kind)
        if origin is tuple and Ellipsis not in args:
            if len(value) != len(args):
                raise SchemaError(f"{where} = {value!r}: expected {len(args)} entries")
        else:
            args = args[:1] * len(value)
        for i, (item, item_kind) in enumerate(zip(value, args)):
            _check_type(item, item_kind, f"{where}[{i}]")
        return
    if origin in (dict, collections.abc.Mapping):
        if not isinstance(value, dict):
            raise SchemaError(f"{where} = {value!r}: expected a table")
        key_kind, value_kind = typing.get_args(kind) or (str, Any)
        for key, item in value.items():
            _check_type(item, value_kind, f"{where}.{key}")
        return
    if kind is Any:
        return
    raise SchemaError(f"{where}: cannot check a value of type {kind}")


def _at_least(low: float, strict: bool = False) -> Callable[[Any], str | None]:
    def check(value):
        if value < low or (strict and value == low):
            return f"must be {'greater than' if strict else 'at least'} {low}"
        return None
    return check


def _between(low: float, high: float, open_low: bool = False, open_high: bool = False) -> Callable[[Any], str | None]:
    def check(value):
        if value < low or value > high or (open_low and value == low) or (open_high and value == high):
            return f"must lie in {'(' if open_low else '['}{low}, {high}{')' if open_high else ']'}"
        return None
    return check


def _one_of(*choices: str) -> Callable[[Any], str | None]:
    return lambda value: None if value in choices else f"must be one of {list(choices)}"


# GO's lower bound is the gap minus a multiple of its bootstrap standard error:
# from a handful of resamples that SE is itself noise, and a true gap below the
# line reached GO (5 of 150 datasets with 2 resamples, 0 of 150 with 200).
MIN_BOOTSTRAP = 100

# Ranges of the numbers the dataclasses hold, by table and key. A key not
# listed here is checked for its type only.
RANGES: dict[str, dict[str, Callable[[Any], str | None]]] = {
    "generation": {"duration_s": _at_least(0, strict=True), "top_k": _at_least(0), "top_p": _between(0, 1),
                   "temperature": _at_least(0, strict=True), "cfg_coef": _at_least(0),
                   "batch_size": lambda v: None if v == "auto" or (isinstance(v, int) and v >= 1)
                   else "must be 'auto' or at least 1"},
    "capture": {"n_time_bins": _at_least(1)},
    "thresholds": {"alpha": _between(0, 1, open_low=True, open_high=True), "min_gap": _at_least(0),
                   "acoustic_agreement": _between(0, 1), "mode_min_decided": _between(0, 1),
                   "min_n_per_emotion": _at_least(2),
                   "max_word_same_emotion_share": _between(0, 1, open_low=True, open_high=True),
                   "word_only_null_datasets": _at_least(50)},
    "statistics": {"metric": _one_of(*METRICS), "n_permutations": _at_least(1), "n_bootstrap": _at_least(MIN_BOOTSTRAP),
                   "probe_permutations": _at_least(1)},
    "sampling": {"n_per_emotion": _at_least(2), "base_seed": _at_least(0)},
    "extreme_contrasts": {"n_per_prompt": _at_least(1)},
    "steering": {"n_seeds": _at_least(1), "max_layers": _at_least(1), "n_random": _at_least(1),
                 "layers": lambda v: None if v == "significant" or isinstance(v, list)
                 else "must be 'significant' or a list of layer indices"},
}
FIXED_TABLES: dict[str, dict[str, Any]] = {
    "model": {"name": typing.Union[str, list[str]]},
    "sampling": {"n_per_emotion": int, "base_seed": int},
    "extreme_contrasts": {"pairs": list[list[str]], "n_per_prompt": int},
    # The blinded listening check (config.ListeningParams; "record" is one path or a list).
    "listening": {"clips_per_emotion": int, "clip_seconds": float, "seed": typing.Optional[int], "decisive": bool,
                  "record": typing.Union[str, list[str]]},
}
# Tables read by others: [cluster] by the launcher (emoprobe.launch checks it).
OTHER_TABLES = ("cluster",)


def _dataclass_tables(dataclass_tables: Mapping[str, type]) -> dict[str, dict[str, Any]]:
    tables = {}
    for name, cls in dataclass_tables.items():
        hints = typing.get_type_hints(cls)
        tables[name] = {f.name: hints[f.name] for f in dataclasses.fields(cls)}
    # TOML spells "every layer" as "all"; layers are read by config.parse_layers.
    tables["capture"]["layers"] = typing.Union[str, list[int]]
    tables["steering"]["layers"] = typing.Union[str, list[int]]
    return tables


def _check_table(table: Any, schema: Mapping[str, Any], name: str) -> None:
    if not isinstance(table, dict):
        raise SchemaError(f"[{name}] must be a table, got {table!r}")
    _refuse_unknown(table, schema, f"[{name}]")
    for key, value in table.items():
        _check_type(value, schema[key], f"{name}.{key}")
        check = RANGES.get(name, {}).get(key)
        problem = check(value) if check else None
        if problem:
            raise SchemaError(f"{name}.{key} = {value!r} {problem}")


def _check_emotions(emotions: Any) -> None:
    if not isinstance(emotions, dict):
        raise SchemaError(f"[emotions] must be a table of emotion = [wordings], got {emotions!r}")
    seen: dict[str, str] = {}
    for emotion, wordings in emotions.items():
        if not EMOTION_NAME.match(emotion):
            raise SchemaError(f"emotion name {emotion!r}: use letters, digits, '_' and '-' only "
                              "(it names tests, files and report sections)")
        if not isinstance(wordings, list):
            raise SchemaError(f"emotions.{emotion} must be a list of wordings, got {type(wordings).__name__} "
                              f"{wordings!r}; write {emotion} = [{wordings!r}, ...]")
        for i, wording in enumerate(wordings):
            if not isinstance(wording, str):
                raise SchemaError(f"emotions.{emotion}[{i}] = {wording!r}: expected a string")
            normalised = " ".join(wording.split()).casefold()
            if normalised in seen:
                where = (f"twice under {emotion!r}" if seen[normalised] == emotion
                         else f"under {seen[normalised]!r} and {emotion!r}")
                raise SchemaError(f"wording {wording!r} appears {where}: each wording may belong to one "
                                  "emotion, once (same-wording pairs are the control)")
            seen[normalised] = emotion


def _check_contrasts(acoustics: Any) -> None:
    from .acoustics import AcousticFeatures

    if not isinstance(acoustics, dict):
        raise SchemaError(f"[acoustics] must be a table, got {acoustics!r}")
    _refuse_unknown(acoustics, ["contrasts"], "[acoustics]")
    contrasts = acoustics.get("contrasts", [])
    if not isinstance(contrasts, list) or not all(isinstance(c, dict) for c in contrasts):
        raise SchemaError("acoustics.contrasts must be [[acoustics.contrasts]] tables")
    features = [f.name for f in dataclasses.fields(AcousticFeatures)]
    for entry in contrasts:
        for key, value in entry.items():
            if key in ("emotions", "mode"):
                _check_type(value, list[str], f"acoustics.contrasts.{key}")
                if len(value) != 2:
                    raise SchemaError(f"acoustics.contrasts.{key} = {value!r}: expected two entries")
            elif key not in features:
                raise SchemaError(f"[[acoustics.contrasts]]: unknown feature {key!r}{_hint(key, features)}")


def check_raw(raw: Mapping[str, Any], dataclass_tables: Mapping[str, type]) -> None:
    """Raise SchemaError, with what to change, on the first problem in the parsed TOML.

    ``dataclass_tables`` maps a table name to the ``config`` dataclass its keys
    are the fields of (passed in: ``config`` imports this module).
    """
    tables = {**_dataclass_tables(dataclass_tables), **FIXED_TABLES}
    known = [*tables, "emotions", "acoustics", *OTHER_TABLES]
    _refuse_unknown(raw, known, "experiment file")
    for name, schema in tables.items():
        if name in raw:
            _check_table(raw[name], schema, name)
    if "emotions" in raw:
        _check_emotions(raw["emotions"])
    if "acoustics" in raw:
        _check_contrasts(raw["acoustics"])
