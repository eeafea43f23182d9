"""Build the acoustic validation corpus: real scores and synthetic progressions,
rendered with fluidsynth and a General MIDI soundfont, with known key, mode and
tempo.

    apt-get install -y fluidsynth fluid-soundfont-gm      # once
    PYTHONPATH=lib .venv/bin/python scripts/build_acoustic_corpus.py [--out .cache/acoustic_corpus]

Writes ``<out>/<clip>.wav`` (mono float32, 32 kHz, ``CLIP_S`` seconds) and
``<out>/manifest.json`` (one record per clip: tonic, mode, bpm, source,
instrument, drums, split, batch).  Everything is deterministic: the same music21
version and soundfont give the same clips.  A clip already on disk is reused
only when its ``<clip>.render`` stamp (a hash of its notes, tempo, instruments
and rendering settings) matches.

Three sources:

* **Real scores**: Bach chorales from music21's bundled corpus (batches 1-5).  The truth is
  read from the score, not from an estimator: the key signature gives a major
  key and its relative minor, and the final bass note picks between them;
  chorales whose final bass is neither (modal chorales) are skipped, as are
  chorales not in x/4 time (the quarter note is then the beat, so the tempo
  written into the MIDI file is the true beat tempo).  The first ``CLIP_S``
  seconds are rendered on one instrument, some with a drum kit added.
* **Folk tunes** from O'Neill's 1850 collection in music21's corpus (batch 6 on):
  single melodic lines whose ABC key field names tonic and mode; see
  ``folk_candidates`` for which are kept.
* **Synthetic progressions** in both modes, including minor progressions built
  only from chords of the relative major (i-VI-III-VII, i-iv-VII-III), with bass,
  block or arpeggiated chords and a melody, on several instruments, with and
  without drums.

Each clip gets a tempo drawn from 50-190 BPM.  The split (``train``/``test``) is
a hash of the clip name, so adding clips never moves an existing one: tune on
``train`` only; ``test`` is for the numbers in bench/RESULTS.md.

The clips come in **batches** (``BATCHES``; the manifest's ``batch`` field).
Each batch has its own random stream and takes, from each real source, the pieces
after the ones of the batches before it, so a new batch leaves every earlier clip's samples
identical (the wav files' md5 differ: libsndfile stamps a time in the header).
A batch is fresh evidence only until it is scored; after that its ``train``
half is tuning material and its ``test`` half a test split that has been seen.

* Batch 1 (116 clips, 2026-11-26): issue 15's extractor was designed on its
  train split and scored on its test split after each attempt.
* Batch 2 (174 clips, 2026-11-27): scored once with acoustics-1.5 (both halves,
  misses listed); acoustics-1.6 was then designed on its train half with batch
  1's, and its test half scored a second time.
* Batch 3 (116 clips, 2026-11-27): built after acoustics-1.7 and scored once,
  1.5 against 1.7 on the same clips (bench/RESULTS.md); its train half was then
  in acoustics-1.9's mode fit.
* Batch 4 (116 clips, 2026-11-27): built after acoustics-1.9 and scored once,
  1.8 against 1.9.
* Batch 5 (116 clips, 2026-11-27): built after acoustics-1.10 and scored once,
  1.9 against 1.10.
* Batch 6 (116 clips, 2026-11-27): the chorales ran out, so its real pieces are folk
  tunes from O'Neill's *Music of Ireland* (music21's ``oneills1850``; see
  ``folk_candidates``).  Built after acoustics-1.11 and scored once.
* Batch 7 (116 clips: 88 folk tunes, 28 synthetic, 2026-11-27): more single-line
  music to study mode on.  Its train half was read (bench/mode_melody_features.py);
  its test half has not been scored.  Rebuilt after review 29 (five tunes that jump back or are
  in 6/4 replaced; short tunes played again to fill the clip).
* Batch 8 (116 clips: 44 tunes from O'Neill's, 44 from Aird's *Selection of Scotch, English,
  Irish and Foreign Airs* (1782-1797, music21's ``airdsAirs``), 28 synthetic, 2026-11-27):
  single-line music from a second collection.  Its train half was read to fit a mode model
  for music with no bass (not adopted); its test half was scored, acoustics-1.11 against that
  candidate (bench/RESULTS.md, "Batch 8").  Rebuilt after review 30: five O'Neill tunes were
  in it twice (music21's files overlap) and one of Aird's went back to its first part; the
  rebuilt test half was scored again.
"""
from __future__ import annotations

import argparse
import functools
import hashlib
import inspect
import json
import re
import struct
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import soundfile as sf

SR = 32000
CLIP_S = 15.0
SOUNDFONT = "/usr/share/sounds/sf2/FluidR3_GM.sf2"
PITCH_CLASSES = ("C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")
# General MIDI programs: piano, church organ, string ensemble, nylon guitar,
# flute, choir, electric piano, harpsichord.
INSTRUMENTS = {"piano": 0, "organ": 19, "strings": 48, "guitar": 24, "flute": 73, "choir": 52,
               "epiano": 4, "harpsichord": 6}
# Instruments only the folk tunes use: a separate table, because the synthetic clips draw from
# ``list(INSTRUMENTS)`` and a longer list would change every earlier batch's draws.
FOLK_INSTRUMENTS = {"violin": 40, "flute": 73, "piano": 0, "harpsichord": 6, "guitar": 24, "strings": 48}
# batch: (chorales, folk tunes, synthetic progressions, seed of its random stream[, {collection:
# tunes}]): "folk tunes" come from O'Neill's; the optional last field takes tunes from other
# collections of ``folk_candidates``, after the O'Neill tunes and before the synthetic clips.
# Batches from this one on play a short folk tune again until the clip is full (batch 6, scored
# before, keeps its clips as rendered: 3 of its 44 tunes end 0.3-2.8 s early).
FILL_FROM_BATCH = 7
BATCHES = {1: (44, 0, 72, 15), 2: (66, 0, 108, 16), 3: (44, 0, 72, 17), 4: (44, 0, 72, 18), 5: (44, 0, 72, 19),
           6: (0, 44, 72, 20), 7: (0, 88, 28, 21), 8: (0, 44, 28, 22, {"airdsAirs": 44}),
           9: (0, 8, 28, 23, {"airdsAirs": 76})}
TICKS = 480

# Roots (semitones above the tonic) and qualities.  Minor progressions marked
# "relative" use only the chords of the relative major: the case a chroma profile
# alone reads as major.
PROGRESSIONS = {
    "major": {"I-V-vi-IV": [(0, "maj"), (7, "maj"), (9, "min"), (5, "maj")],
              "I-IV-V-I": [(0, "maj"), (5, "maj"), (7, "maj"), (0, "maj")],
              "I-vi-IV-V": [(0, "maj"), (9, "min"), (5, "maj"), (7, "maj")],
              "I-iii-IV-V": [(0, "maj"), (4, "min"), (5, "maj"), (7, "maj")]},
    "minor": {"i-VI-III-VII": [(0, "min"), (8, "maj"), (3, "maj"), (10, "maj")],   # relative
              "i-iv-VII-III": [(0, "min"), (5, "min"), (10, "maj"), (3, "maj")],   # relative
              "i-iv-V-i": [(0, "min"), (5, "min"), (7, "maj"), (0, "min")],
              "i-VI-iv-V": [(0, "min"), (8, "maj"), (5, "min"), (7, "maj")]},
}
CHORD = {"maj": (0, 4, 7), "min": (0, 3, 7)}
MINOR_SCALE = (0, 2, 3, 5, 7, 8, 10)
MAJOR_SCALE = (0, 2, 4, 5, 7, 9, 11)
DRUMS = {  # 16th-note steps in a 4/4 bar; GM kick 36, snare 38, closed hat 42
    "rock": {36: (0, 8), 38: (4, 12), 42: (0, 2, 4, 6, 8, 10, 12, 14)},
    "four_on_floor": {36: (0, 4, 8, 12), 38: (4, 12), 42: (2, 6, 10, 14)},
    "ballad": {36: (0, 10), 38: (8,), 42: (0, 4, 8, 12)},
}


def split_of(name: str) -> str:
    return "test" if hashlib.sha256(name.encode()).digest()[0] % 2 else "train"


# --- a minimal Standard MIDI File writer (format 0) -------------------------

def _varlen(n: int) -> bytes:
    out = [n & 0x7F]
    n >>= 7
    while n:
        out.append(0x80 | (n & 0x7F))
        n >>= 7
    return bytes(reversed(out))


def write_midi(path: Path, notes: list[tuple[float, float, int, int, int]], bpm: float,
               programs: dict[int, int]) -> None:
    """``notes``: (start, duration) in quarter notes, pitch, velocity, channel."""
    events = [(0, bytes([0xFF, 0x51, 0x03]) + int(round(60e6 / bpm)).to_bytes(3, "big"))]
    events += [(0, bytes([0xC0 | ch, prog])) for ch, prog in programs.items()]
    for start, dur, pitch, vel, ch in notes:
        on, off = int(round(start * TICKS)), int(round((start + dur) * TICKS))
        events.append((on, bytes([0x90 | ch, pitch, vel])))
        events.append((max(on + 1, off - 1), bytes([0x80 | ch, pitch, 0])))
    events.sort(key=lambda e: (e[0], e[1][0] & 0xF0 == 0x90))  # note-offs before note-ons
    track, now = bytearray(), 0
    for tick, data in events:
        track += _varlen(tick - now) + data
        now = tick
    track += _varlen(0) + bytes([0xFF, 0x2F, 0x00])
    path.write_bytes(b"MThd" + struct.pack(">IHHH", 6, 0, 1, TICKS) + b"MTrk"
                     + struct.pack(">I", len(track)) + bytes(track))


def render(notes, bpm: float, programs: dict[int, int], out_wav: Path) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        mid, wav = Path(tmp) / "x.mid", Path(tmp) / "x.wav"
        write_midi(mid, notes, bpm, programs)
        subprocess.run(["fluidsynth", "-ni", "-q", "-g", "0.6", "-r", str(SR), "-F", str(wav), SOUNDFONT,
                        str(mid)], check=True, capture_output=True)
        y, sr = sf.read(str(wav), dtype="float32", always_2d=True)
    assert sr == SR, sr
    y = y.mean(axis=1)[: int(CLIP_S * SR)]
    if y.size < int(CLIP_S * SR):
        y = np.pad(y, (0, int(CLIP_S * SR) - y.size))
    y = y / max(1e-9, float(np.max(np.abs(y)))) * 0.7
    sf.write(str(out_wav), y, SR, subtype="FLOAT")


def drum_notes(pattern: str, n_beats: float) -> list:
    notes = []
    for bar in range(int(np.ceil(n_beats / 4))):
        for pitch, steps in DRUMS[pattern].items():
            notes += [(4 * bar + s / 4, 0.2, pitch, 100 if pitch != 42 else 70, 9) for s in steps]
    return notes


# --- real scores -----------------------------------------------------------

def chorale_candidates():
    """Chorales of music21's corpus whose truth can be read from the score, in
    sorted order: (name, notes, tonic, mode)."""
    from music21 import corpus

    seen = set()
    for path in sorted(str(p) for p in corpus.getComposer("bach")):
        name = Path(path).stem
        # music21 ships some chorales twice (bwv281.krn and bwv281.mxl): one clip per chorale.
        if not name.startswith("bwv") or name in seen:
            continue
        seen.add(name)
        score = corpus.parse(path)
        ts = next(iter(score.recurse().getElementsByClass("TimeSignature")), None)
        ks = next(iter(score.recurse().getElementsByClass("KeySignature")), None)
        if ts is None or ks is None or ts.denominator != 4 or len(score.parts) < 2:
            continue
        major_pc = (7 * ks.sharps) % 12
        minor_pc = (major_pc + 9) % 12
        bass = [n for n in score.parts[-1].flatten().notes]
        if not bass:
            continue
        final = bass[-1].pitches[0].pitchClass
        mode = "major" if final == major_pc else "minor" if final == minor_pc else None
        if mode is None:
            continue
        notes = []
        for part in score.parts:
            for n in part.flatten().notes:
                for p in n.pitches:
                    notes.append((float(n.offset), float(n.quarterLength), int(p.midi), 80, 0))
        yield name, notes, PITCH_CLASSES[final], mode


# A tune whose written order is not its played order (da capo al fine, dal segno): its last
# written note is not where it ends (review 29: a G minor tune ending "D.C." on Bb read as Bb major).
_JUMP = re.compile(r'"[^"]*(fine|d\.\s*c\.|d\.\s*s\.|segno|coda)[^"]*"|^N:.*(segno|d\.\s*c\.|fine)',
                   re.IGNORECASE | re.MULTILINE)


def _played_as_written(text: str) -> bool:
    """False where a tune's ABC says it is not played in its written order, or changes key: a
    jump (``_JUMP``), "da capo" in any form, a part order that returns to an earlier part
    (Aird's writes ``P:ABA``), or a second key field (review 30: Aird's tunes that go back to
    their first part, and two that move to the parallel minor half-way)."""
    if _JUMP.search(text) or "capo" in text.lower():
        return False
    if len(re.findall(r"^K:|\[K:", text, flags=re.MULTILINE)) > 1:
        return False
    order = re.search(r"^P:\s*([A-Z]+)\s*(%|$)", text, flags=re.MULTILINE)
    if order:
        parts = [k for i, k in enumerate(order.group(1)) if i == 0 or k != order.group(1)[i - 1]]   # AABB: repeats
        if len(parts) != len(set(parts)):
            return False
    return True


def _abc_tunes(path: str) -> dict[int, str]:
    """Reference number (``X:``) -> the tune's ABC text."""
    tunes = re.split(r"^(?=X:)", Path(path).read_text(errors="replace"), flags=re.MULTILINE)
    return {int(m.group(1)): t for t in tunes if (m := re.match(r"X:\s*(\d+)", t))}


def folk_candidates(collection: str = "oneills1850"):
    """Tunes of one of music21's ABC collections (O'Neill's *Music of Ireland*, 1850, by
    default; ``airdsAirs`` is Aird's airs, 1782-1797), in corpus
    order: (name, notes, tonic, mode).  The truth is the transcriber's key field (``K:Em``
    names the tonic and the mode) and must agree with the score: only major and minor tunes
    in 2/4, 3/4 or 4/4 whose last note is the named tonic are kept (modal tunes, jigs in 6/8,
    6/4 airs and reels in cut time, where the quarter note is not the beat, are skipped), and
    none that jumps back or changes key (``_played_as_written``), whose last written note is not
    its last.  music21's O'Neill files overlap (``0626-0635`` and ``0626-0700`` both hold tunes
    626-635), so a tune number already read is skipped (review 30: five tunes were in batch 8
    twice, one on both sides of the split).
    The tunes are single melodic lines, rendered as written: repeats are not expanded."""
    from music21 import corpus

    seen = set()
    for path in sorted(str(p) for p in corpus.getCorePaths() if collection in str(p)):
        # O'Neill's tunes keep the names batches 6-7 were built with (the name's hash is the split).
        stem = Path(path).stem if collection == "oneills1850" else f"{collection}_{Path(path).stem}"
        texts = _abc_tunes(path)
        parsed = corpus.parse(path)
        for score in getattr(parsed, "scores", [parsed]):      # a file of one tune parses to a Score
            key = next(iter(score.recurse().getElementsByClass("KeySignature")), None)
            ts = next(iter(score.recurse().getElementsByClass("TimeSignature")), None)
            melody = list(score.flatten().notes)
            number = int(score.metadata.number or next(iter(texts)))
            if number in seen:
                continue
            seen.add(number)
            if (ts is None or ts.denominator != 4 or ts.numerator not in (2, 3, 4)
                    or getattr(key, "mode", None) not in ("major", "minor")
                    or not melody or melody[-1].pitches[0].pitchClass != key.tonic.pitchClass
                    or not _played_as_written(texts.get(number, ""))):
                continue
            notes = [(float(n.offset), float(n.quarterLength), int(p.midi), 85, 0)
                     for n in melody for p in n.pitches]
            yield f"{stem}_{score.metadata.number}", notes, PITCH_CLASSES[key.tonic.pitchClass], key.mode


def score_records(rng: np.random.Generator, n: int, candidates, *, kind: str, instruments: list[str],
                  fill: bool = False) -> list[dict]:
    """The next ``n`` pieces (half major, half minor) that the iterator ``candidates`` yields,
    named ``<kind>_<name>``, each given a tempo, one of ``instruments`` and maybe drums from ``rng``.
    ``fill``: a piece shorter than the clip at its tempo is played again from the top until the
    clip is full, as a dance tune is (review 29: short airs left up to 9 s of silence or drums)."""
    if n == 0:
        return []
    wanted = {"major": n // 2, "minor": n // 2}
    records = []
    # The loop stops at the candidate after the last one taken, and that candidate is lost:
    # batches 2 to 5 were built so, and moving the test would change their chorales.
    for name, notes, tonic, mode in candidates:
        if not any(wanted.values()):
            break
        if not wanted[mode]:
            continue
        wanted[mode] -= 1
        records.append({"name": f"{kind}_{name}", "source": "music21 " + name, "notes": notes,
                        "tonic": tonic, "mode": mode})
    if any(wanted.values()):
        raise SystemExit(f"music21's corpus ran out of {kind} pieces: {wanted} still wanted")
    for rec in records:
        rec["bpm"] = float(np.round(rng.uniform(50, 190), 1))
        rec["instrument"] = str(rng.choice(instruments))
        rec["drums"] = str(rng.choice(["rock", "four_on_floor", "ballad"])) if rng.random() < 0.25 else None
        if fill:
            rec["notes"] = _played_until(rec["notes"], CLIP_S * rec["bpm"] / 60)
    return records


def _played_until(notes: list, quarters: float) -> list:
    """``notes`` repeated end to end (one pass = the last note's end) until ``quarters`` are covered."""
    length = max(start + dur for start, dur, *_ in notes)
    passes = int(np.ceil(quarters / length))
    return [(start + k * length, dur, *rest) for k in range(passes) for start, dur, *rest in notes]


# --- synthetic progressions --------------------------------------------------

def synthetic_notes(tonic: int, mode: str, chords: list, style: str, rng: np.random.Generator,
                    n_beats: float) -> list:
    notes, base = [], 48 + tonic
    scale = MAJOR_SCALE if mode == "major" else MINOR_SCALE
    n_bars = int(np.ceil(n_beats / 4))
    for bar in range(n_bars):
        # The last bar of each pass through the progression, and the very last
        # bar, return to the tonic: how a piece in the key ends its phrases.
        root, quality = (0, "maj" if mode == "major" else "min") if bar == n_bars - 1 else chords[bar % len(chords)]
        t0 = 4.0 * bar
        notes += [(t0, 2.0, base - 12 + root, 90, 1), (t0 + 2, 2.0, base - 12 + root, 80, 1)]
        tones = [base + root + iv for iv in CHORD[quality]]
        if style == "block":
            notes += [(t0, 4.0, p, 60, 0) for p in tones]
        elif style == "arpeggio":
            seq = tones + [tones[1]]
            notes += [(t0 + 0.5 * i, 0.5, seq[i % 4] + 12 * (i // 4 % 2), 60, 0) for i in range(8)]
        else:  # "pulse": chords on every beat
            notes += [(t0 + b, 0.9, p, 60 if b else 75, 0) for b in range(4) for p in tones]
        # A melody on chord tones and scale steps, quarters and halves.
        t = t0
        while t < t0 + 4:
            dur = float(rng.choice([1.0, 1.0, 2.0, 0.5]))
            pc = (root + CHORD[quality][int(rng.integers(3))]) % 12 if rng.random() < 0.7 else \
                scale[int(rng.integers(7))]
            notes.append((t, min(dur, t0 + 4 - t), 72 + (tonic + pc) % 12, 85, 2))
            t += dur
    return notes


def synthetic_records(rng: np.random.Generator, first: int, n: int) -> list[dict]:
    records = []
    for i in range(first, first + n):
        mode = "minor" if i % 2 else "major"
        names = list(PROGRESSIONS[mode])
        prog = names[(i // 2) % len(names)]
        tonic = int(rng.integers(12))
        style = ["block", "arpeggio", "pulse"][(i // 8) % 3]
        bpm = float(np.round(rng.uniform(50, 190), 1))
        n_beats = CLIP_S * bpm / 60 + 4
        drums = str(rng.choice(list(DRUMS))) if i % 3 == 0 else None
        records.append({"name": f"synth_{i:03d}_{mode}_{prog}", "source": f"synthetic {prog} {style}",
                        "notes": synthetic_notes(tonic, mode, PROGRESSIONS[mode][prog], style, rng, n_beats),
                        "tonic": PITCH_CLASSES[tonic], "mode": mode, "bpm": bpm,
                        "instrument": str(rng.choice(list(INSTRUMENTS))), "drums": drums})
    return records


def build(out: Path) -> list[dict]:
    out.mkdir(parents=True, exist_ok=True)
    manifest, n_synthetic = [], 0
    # One pass through each source: a batch takes the pieces after the last one's.
    chorales, folk_tunes = chorale_candidates(), {"oneills1850": folk_candidates()}
    for batch, (n_chorales, n_folk, n_synth, seed, *more) in BATCHES.items():
        rng = np.random.default_rng(seed)
        records = score_records(rng, n_chorales, chorales, kind="chorale",
                                instruments=["organ", "strings", "piano", "choir", "harpsichord", "flute"])
        for collection, n in {"oneills1850": n_folk, **(more[0] if more else {})}.items():
            tunes = folk_tunes.setdefault(collection, folk_candidates(collection))
            records += score_records(rng, n, tunes, kind="folk", instruments=list(FOLK_INSTRUMENTS),
                                     fill=batch >= FILL_FROM_BATCH)
        records += synthetic_records(rng, n_synthetic, n_synth)
        n_synthetic += n_synth
        manifest += _render_batch(records, batch, out)
    names = [m["name"] for m in manifest]
    if len(set(names)) != len(names):
        raise SystemExit(f"two clips share a name: {sorted({n for n in names if names.count(n) > 1})}")
    (out / "manifest.json").write_text(json.dumps(manifest, indent=1))
    return manifest


@functools.lru_cache(maxsize=1)
def _renderer_identity() -> list[str]:
    """What else makes a clip's audio: the soundfont's bytes, fluidsynth's version, and the code
    that writes the MIDI file and renders it (its gain and flags included)."""
    version = subprocess.run(["fluidsynth", "--version"], capture_output=True, text=True).stdout.strip()
    soundfont = hashlib.sha256(Path(SOUNDFONT).read_bytes()).hexdigest()
    return [soundfont, version, inspect.getsource(write_midi), inspect.getsource(render)]


def notes_key(notes: list, bpm: float) -> str:
    """music21's key analysis (Aarden-Essen profiles on duration-weighted pitch classes) of the
    notes a clip plays (those starting within ``CLIP_S`` at ``bpm``), as "A minor".  A symbolic
    profile reading, not a truth: the record's truth is the whole piece's key, which a 15 s
    excerpt of an air may not sit in, and a profile misreads the minor progressions built on
    the relative major's chords (bench/notes_key_agreement.py; bench/RESULTS.md, "Batch 8")."""
    from music21 import note, stream

    part = stream.Stream()
    for start, dur, pitch, *_ in notes:
        if start < CLIP_S * bpm / 60 and dur > 0:
            n = note.Note(pitch)
            n.quarterLength = dur
            part.insert(start, n)
    key = part.analyze("key")
    return f"{PITCH_CLASSES[key.tonic.pitchClass]} {key.mode}"


def _render_batch(records: list[dict], batch: int, out: Path) -> list[dict]:
    manifest = []
    for rec in records:
        wav = out / f"{rec['name']}.wav"
        notes = rec.pop("notes")
        rec["notes_key"] = notes_key(notes, rec["bpm"])
        if rec["drums"]:
            notes = notes + drum_notes(rec["drums"], CLIP_S * rec["bpm"] / 60 + 4)
        program = {**INSTRUMENTS, **FOLK_INSTRUMENTS}[rec["instrument"]]
        programs = {0: program, 1: 32 if rec["name"].startswith("synth") else program,
                    2: INSTRUMENTS["flute" if rec["instrument"] != "flute" else "strings"]}
        # A clip on disk is reused only if it was rendered from these very notes, tempo and
        # instruments: reusing by name alone once paired a chorale's truth with another tempo's audio.
        key = hashlib.sha256(json.dumps([notes, rec["bpm"], sorted(programs.items()), SR, CLIP_S,
                                         _renderer_identity()]).encode()).hexdigest()
        stamp = wav.with_suffix(".render")
        if not (wav.exists() and stamp.exists() and stamp.read_text() == key):
            stamp.unlink(missing_ok=True)       # a render killed half-way leaves no stamp to trust
            render(notes, rec["bpm"], programs, wav)
            stamp.write_text(key)
        manifest.append({**rec, "wav": wav.name, "split": split_of(rec["name"]), "batch": batch})
    return manifest


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default=".cache/acoustic_corpus")
    args = ap.parse_args(argv)
    manifest = build(Path(args.out))
    for batch in BATCHES:
        for split in ("train", "test"):
            part = [m for m in manifest if m["split"] == split and m["batch"] == batch]
            print(f"batch {batch} {split}: {len(part)} clips, {sum(m['mode'] == 'minor' for m in part)} minor, "
                  f"{sum(bool(m['drums']) for m in part)} with drums")
    return 0


if __name__ == "__main__":
    sys.exit(main())
