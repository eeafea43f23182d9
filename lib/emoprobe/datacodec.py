"""A data-only encoding of analysis results, for caches anyone may write to.

A pickle in a shared cache runs whatever code its writer chose when it is
read. This codec writes JSON and reads back only plain values, numeric numpy
arrays and the frozen result records of this package, named on an allow-list.
A forged file can at worst hold wrong numbers (the key hashes the code and the
inputs, see ``analysis.memoised``, but anyone who can write to the cache can
compute it), never run code: the cache directory is a trust boundary for
numbers, not for code.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import math
from typing import Any

import numpy as np

# Decoding builds only these classes. Each is a frozen dataclass whose
# constructor just stores its fields.
_RECORD_MODULES = ("emoprobe.stats.records", "emoprobe.analysis", "emoprobe.acoustics", "emoprobe.lexical", "emoprobe.probe",
                   "emoprobe.design")
_NUMERIC_KINDS = "biufc"


class CodecError(ValueError):
    """The data cannot be encoded, or the file is not an encoding this module wrote."""


def _allowed_class(name: str) -> type:
    import importlib

    module_name, _, class_name = name.rpartition(".")
    if module_name not in _RECORD_MODULES or not class_name.isidentifier():
        raise CodecError(f"record type {name!r} is not on the allow-list")
    cls = getattr(importlib.import_module(module_name), class_name, None)
    if not (isinstance(cls, type) and dataclasses.is_dataclass(cls) and cls.__module__ == module_name):
        raise CodecError(f"record type {name!r} is not a result record of {module_name}")
    return cls


def _encode(value: Any) -> Any:
    if value is None or isinstance(value, (bool, str, int)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else {"__float__": repr(value)}
    if isinstance(value, np.generic):
        return _encode(value.item())
    if isinstance(value, np.ndarray):
        if value.dtype.kind not in _NUMERIC_KINDS:
            raise CodecError(f"only numeric arrays are stored, got dtype {value.dtype}")
        data = np.ascontiguousarray(value)
        return {"__ndarray__": {"dtype": data.dtype.str, "shape": list(data.shape),
                                "data": base64.b64encode(data.tobytes()).decode("ascii")}}
    if isinstance(value, tuple):
        return {"__tuple__": [_encode(v) for v in value]}
    if isinstance(value, list):
        return [_encode(v) for v in value]
    if isinstance(value, dict):
        return {"__dict__": [[_encode(k), _encode(v)] for k, v in value.items()]}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        cls = type(value)
        name = f"{cls.__module__}.{cls.__qualname__}"
        _allowed_class(name)  # fail when writing, not only when reading
        return {"__record__": name,
                "fields": {f.name: _encode(getattr(value, f.name)) for f in dataclasses.fields(value)}}
    raise CodecError(f"cannot store a {type(value).__name__}")


def _decode(value: Any) -> Any:
    if isinstance(value, list):
        return [_decode(v) for v in value]
    if not isinstance(value, dict):
        return value
    if len(value) == 1 and "__float__" in value:
        return float(value["__float__"])
    if len(value) == 1 and "__tuple__" in value:
        return tuple(_decode(v) for v in value["__tuple__"])
    if len(value) == 1 and "__dict__" in value:
        return {_decode(k): _decode(v) for k, v in value["__dict__"]}
    if len(value) == 1 and "__ndarray__" in value:
        spec = value["__ndarray__"]
        dtype = np.dtype(spec["dtype"])
        if dtype.kind not in _NUMERIC_KINDS:
            raise CodecError(f"array of dtype {dtype} refused")
        return np.frombuffer(base64.b64decode(spec["data"]), dtype=dtype).reshape(spec["shape"]).copy()
    if set(value) == {"__record__", "fields"}:
        cls = _allowed_class(value["__record__"])
        return cls(**{k: _decode(v) for k, v in value["fields"].items()})
    raise CodecError(f"unexpected object with keys {sorted(value)[:5]}")


def dumps(value: Any) -> bytes:
    return json.dumps({"emoprobe-data": 1, "value": _encode(value)}, allow_nan=False).encode()


def loads(data: bytes) -> Any:
    """Decode ``dumps`` output; CodecError (or ValueError) for anything else."""
    try:
        document = json.loads(data)
        if not isinstance(document, dict) or document.get("emoprobe-data") != 1:
            raise CodecError("not an emoprobe data file")
        return _decode(document["value"])
    except (KeyError, TypeError, AttributeError) as err:
        raise CodecError(f"malformed data file ({type(err).__name__}: {err})") from None
