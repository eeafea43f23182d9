"""How often a profile reading of the notes a clip plays agrees with the clip's truth, and how
the estimators score on the clips where it does.

    PYTHONPATH=lib .venv/bin/python bench/notes_key_agreement.py [--split all --batches all] \
        [--scores run.json ...]

The corpus' truth is the whole piece's key (a chorale's key signature and last bass note, a folk
tune's key field) or, for the synthetic progressions, the key they were built in.  The manifest
also records ``notes_key`` (``build_acoustic_corpus.notes_key``): music21's Aarden-Essen key
analysis of the notes within the clip's 15 s.  Neither is the key a listener hears: the first
misses an excerpt that sits in the relative major, the second misreads minor built on the
relative major's chords.  Where they agree the clip's key is clear from both the piece and its
notes.  ``--scores``: ``bench_corpus.py --json`` files, scored on those clips and against the
notes' mode.
"""
from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "lib"))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from _corpus import add_corpus_arguments, corpus_records  # noqa: E402
from emoprobe.tonality import PITCH_CLASSES  # noqa: E402


def source_of(name: str) -> str:
    return "airds" if "airdsAirs" in name else name.split("_")[0]


def relative_of(tonic: str, mode: str) -> tuple[str, str]:
    step = 3 if mode == "minor" else 9
    return PITCH_CLASSES[(PITCH_CLASSES.index(tonic) + step) % 12], "major" if mode == "minor" else "minor"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_corpus_arguments(ap, batches="all", jobs=False)
    ap.set_defaults(split="all")
    ap.add_argument("--scores", nargs="*", default=[], help="bench_corpus.py --json files")
    args = ap.parse_args(argv)
    records = corpus_records(args)
    if any("notes_key" not in m for m in records):
        raise SystemExit("the manifest has no notes_key: rebuild it with scripts/build_acoustic_corpus.py")
    counts: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0, 0])
    for m in records:
        tonic, mode = m["notes_key"].split()
        c = counts[source_of(m["name"])]
        c[0] += 1
        c[1] += (tonic, mode) == (m["tonic"], m["mode"])
        c[2] += mode == m["mode"]
        c[3] += (tonic, mode) == relative_of(m["tonic"], m["mode"])
    print(f"{'source':8s} {'clips':>5s}  notes' key = truth  notes' mode = truth  notes read the relative key")
    for source, (n, key, mode, rel) in sorted(counts.items()):
        print(f"{source:8s} {n:5d}  {key / n:18.3f}  {mode / n:19.3f}  {rel / n:27.3f}")
    by_name = {m["name"]: m for m in json.loads((Path(args.corpus) / "manifest.json").read_text())}
    for path in args.scores:
        rows = json.loads(Path(path).read_text())
        clear = [r for r in rows if by_name[r["name"]]["notes_key"] == f"{r['tonic']} {r['mode']}"]
        print(f"\n{path}: {len(rows)} clips, {len(clear)} where the notes' key is the truth")
        for est in rows[0]["results"]:
            on_clear = sum(r["results"][est]["mode"] == r["mode"] for r in clear) / max(len(clear), 1)
            vs_notes = sum(r["results"][est]["mode"] == by_name[r["name"]]["notes_key"].split()[1]
                           for r in rows) / len(rows)
            print(f"  {est:10s} mode on those clips {on_clear:.3f}; mode against the notes' mode, all clips {vs_notes:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
