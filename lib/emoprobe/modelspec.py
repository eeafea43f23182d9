"""Model specs as written on the command line: ``kind:key=value;key=value``, parsed and compared.

Plain string handling, apart from ``models`` so that the configuration can
compare specs without importing the model registry.
"""

from __future__ import annotations


def parse_model_spec(name: str) -> tuple[str, dict[str, str]]:
    """``kind:key=value;key=value`` -> (kind, params); ValueError on an item without ``=`` or a key
    given twice (last-one-wins would let ``shape=small;shape=large`` load the larger model)."""
    kind, _, rest = name.partition(":")
    params = {}
    for item in filter(None, (p.strip() for p in rest.split(";"))):
        key, sep, value = item.partition("=")
        if not sep:
            raise ValueError(f"{name!r}: expected key=value, got {item!r}")
        if key.strip() in params:
            raise ValueError(f"{name!r}: {key.strip()!r} is given twice")
        params[key.strip()] = value.strip()
    return kind, params


def canonical_model_spec(name: str) -> str:
    """The spec with blanks, empty items and the parameters' order gone: ``tiny:`` is ``tiny``,
    ``planted:size=2;layers=1`` is ``planted:layers=1;size=2``. A malformed spec is returned as it is
    (``describe_model`` says what is wrong with it)."""
    try:
        kind, params = parse_model_spec(name.strip())
    except ValueError:
        return name
    return kind + "".join(f"{';' if i else ':'}{k}={params[k]}" for i, k in enumerate(sorted(params)))
