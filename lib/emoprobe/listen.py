"""A blinded listening check: "do happy samples sound happy?", asked so that the answer counts.

    python -m emoprobe.listen build --model facebook/musicgen-large   # -> reports/listening/<model>/
    # open listening.html, listen, click, "Download answers"
    python -m emoprobe.listen score answers-*.json                    # -> listening.json, decision.json

``build`` takes ``clips_per_emotion`` cached samples of each emotion of a run
(chosen and shuffled with a seed drawn at random at build time and kept only in
the key: anyone with the experiment file could otherwise redo the draw and read
the labels off the page), cuts every clip to the same
length, compresses it (Ogg Opus) and writes one self-contained HTML page with
no server and no network. The page is blind: a clip is known only by its
position (``c01`` is the first on the page, and the order is shuffled), its
audio is inline, and the answer buttons are the same for every clip. Which
sample each clip is, its emotion and its prompt, stay in ``listening-key.json``
beside the page. Answers persist in the browser's localStorage (per page) and
leave as a JSON file through "Download answers".

``score`` checks the key (its page id must be the hash of its clips, seed and
model: an edited key is refused) and each answers file against it (the page id
ties answers to one page: answers for another run are refused), then
measures per listener accuracy against chance (1/k emotions) with an exact
one-sided binomial p, the confusion matrix, Cohen's kappa and per-emotion
recall. "Can't tell" is counted apart: accuracy is over committed answers, and
a listener who can tell nothing has no accuracy to test. With several
listeners, answers on one clip are not independent (everyone hears the same
audio), so the pooled test takes one answer per clip, the listeners' majority,
and agreement between listeners is Fleiss' kappa.
"""

from __future__ import annotations

import argparse
import base64
import dataclasses
import hashlib
import html
import io
import json
import secrets
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from .config import REPO_ROOT, ConfigError, ExperimentConfig, Overrides, load_config, plan_samples
from .fileio import atomic_write_bytes

CANT_TELL = "cant_tell"
KEY_FORMAT = "emoprobe-listening-key/1"
ANSWERS_FORMAT = "emoprobe-listening-answers/1"
RESULT_FORMAT = "emoprobe-listening-result/1"
PAGE_NAME, KEY_NAME, RESULT_NAME = "listening.html", "listening-key.json", "listening.json"
HISTORY_NAME = "listening-history.jsonl"
LISTENING_DIR = REPO_ROOT / "reports" / "listening"
# Opus takes 8, 12, 16, 24 or 48 kHz; 24 kHz keeps what a listener judges music by.
AUDIO_RATE = 24_000
FADE_S = 0.01  # against a click where the clip is cut


class ListeningError(ValueError):
    """A listening page cannot be built, or an answers file cannot be scored."""


# -- build --------------------------------------------------------------------


def listening_seed(config: ExperimentConfig) -> tuple[int, bool]:
    """The clip draw's seed and whether the page is blind.

    Drawn at random unless the experiment file fixes ``listening.seed`` (for
    debugging a build): a seed anyone can read rebuilds the order and labels, so
    such a page is marked not blind and its check decides nothing.
    """
    if config.listening.seed is not None:
        return int(config.listening.seed), False
    return secrets.randbits(63), True


def choose_clips(specs: Sequence, emotions: Sequence[str], per_emotion: int, seed: int) -> list:
    """``per_emotion`` specs of each emotion, drawn without replacement, then shuffled together."""
    rng = np.random.default_rng(seed)
    chosen = []
    for emotion in emotions:
        pool = [s for s in specs if s.condition == emotion]
        if len(pool) < per_emotion:
            raise ListeningError(f"emotion {emotion!r} has {len(pool)} samples, fewer than the "
                                 f"{per_emotion} clips asked for (listening.clips_per_emotion)")
        chosen += [pool[i] for i in sorted(rng.choice(len(pool), per_emotion, replace=False))]
    return [chosen[i] for i in rng.permutation(len(chosen))]


def encode_clip(audio: np.ndarray, rate: int, n_frames: int) -> bytes:
    """The first ``n_frames`` of ``audio`` as mono Ogg Opus at AUDIO_RATE, faded at both ends."""
    import soundfile
    from scipy.signal import resample_poly

    clip = np.asarray(audio, dtype=np.float64)
    if clip.ndim > 1:
        clip = clip.mean(axis=1)
    clip = clip[:n_frames]
    if rate != AUDIO_RATE:
        g = np.gcd(rate, AUDIO_RATE)
        clip = resample_poly(clip, AUDIO_RATE // g, rate // g)
    fade = min(int(FADE_S * AUDIO_RATE), len(clip) // 2)
    if fade:
        ramp = np.linspace(0.0, 1.0, fade)
        clip[:fade] *= ramp
        clip[-fade:] *= ramp[::-1]
    peak = np.max(np.abs(clip)) if clip.size else 0.0
    if peak > 1.0:  # only against clipping: loudness is part of what a listener hears
        clip = clip / peak
    buffer = io.BytesIO()
    soundfile.write(buffer, clip.astype(np.float32), AUDIO_RATE, format="OGG", subtype="OPUS")
    return buffer.getvalue()


def page_id_of(key_clips: Sequence[Mapping[str, Any]], seed: int, model: str) -> str:
    # The secret seed is in the hash: the id printed on the page cannot be searched back to the draw.
    payload = json.dumps({"clips": list(key_clips), "seed": seed, "model": model}, sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


def build(config: ExperimentConfig, info, out_dir: str | Path | None = None) -> tuple[Path, Path]:
    """Write the page and its key for ``config``'s (single) model from the cache; their paths.

    Loads only: a sample missing from the cache is an error that says how to make it.
    """
    from .dataset import SampleSetIncomplete, collect_samples
    from .store import SampleStore

    params = config.listening
    emotions = list(config.emotions)
    seed, blind = listening_seed(config)
    specs = choose_clips(plan_samples(config, include_extremes=False), emotions, params.clips_per_emotion, seed)
    try:
        sets, _ = collect_samples(config, info, SampleStore(config.cache_dir), progress=False,
                                  generate_missing=False, specs=specs)
    except SampleSetIncomplete:
        raise ListeningError(
            f"some chosen samples of {info.name} are not in the cache {config.cache_dir}: run the suite "
            "(or python -m emoprobe.launch) with the same --model/--n-per-emotion/--seed/--experiment first") from None
    by_spec = {(s.spec.condition, s.spec.replicate): s for s in sets["emotion"].samples}
    samples = [by_spec[(spec.condition, spec.replicate)] for spec in specs]
    loaded = [s.load_audio() for s in samples]
    rates = {rate for _, rate in loaded}
    if len(rates) != 1:
        raise ListeningError(f"the samples have different sample rates {sorted(rates)}")
    rate = rates.pop()
    # One length for every clip: a shorter clip would tell its own story.
    n_frames = min(int(round(params.clip_seconds * rate)), *(len(audio) for audio, _ in loaded))

    clips, key_clips = [], []
    for position, (sample, (audio, _)) in enumerate(zip(samples, loaded), start=1):
        clip_id = f"c{position:0{max(2, len(str(len(samples))))}d}"
        clips.append({"id": clip_id, "audio": base64.b64encode(encode_clip(audio, rate, n_frames)).decode()})
        key_clips.append({"clip": clip_id, "emotion": sample.spec.condition, "prompt": sample.spec.prompt,
                          "prompt_id": sample.spec.prompt_id, "seed": sample.spec.seed, "sample_key": sample.key})
    page_id = page_id_of(key_clips, seed, info.name)
    key = {"format": KEY_FORMAT, "page_id": page_id, "model": info.name, "model_label": info.label,
           "emotions": emotions, "clips_per_emotion": params.clips_per_emotion, "seed": seed,
           "blind": blind, "clip_seconds": n_frames / rate, "audio": f"Ogg Opus, mono, {AUDIO_RATE} Hz",
           "n_per_emotion": config.n_per_emotion, "base_seed": config.base_seed,
           "config_hash": config.config_hash(), "cache_dir": str(config.cache_dir),
           "built": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "clips": key_clips}
    out = Path(out_dir) if out_dir else default_dir(info.name)
    page_path, key_path = out / PAGE_NAME, out / KEY_NAME
    atomic_write_bytes(key_path, json.dumps(key, indent=2).encode())
    atomic_write_bytes(page_path, render_page(page_id, emotions, clips, n_frames / rate).encode())
    page_path.chmod(0o644)  # the page is handed to listeners; the key keeps the temp file's 0600
    return page_path, key_path


def default_dir(model: str) -> Path:
    import re

    return LISTENING_DIR / (re.sub(r"[^A-Za-z0-9._]+", "-", Path(model).name if Path(model).is_dir() else model)
                            .strip("-") or "model")


def option_label(option: str) -> str:
    return "can't tell" if option == CANT_TELL else option


def render_page(page_id: str, emotions: Sequence[str], clips: Sequence[Mapping[str, str]], seconds: float) -> str:
    """The listening page: data in one JSON script, clip elements built by the page's script."""
    data = json.dumps({"format": ANSWERS_FORMAT, "page_id": page_id,
                       "options": [*emotions, CANT_TELL],
                       "labels": [option_label(o) for o in (*emotions, CANT_TELL)], "clips": list(clips)})
    choices = ", ".join(html.escape(e) for e in emotions)
    return (_PAGE.replace("__CHOICES__", choices).replace("__N__", str(len(clips)))
            .replace("__SECONDS__", f"{seconds:g}").replace("__DATA__", data.replace("</", "<\\/")))


_PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; media-src blob:">
<title>Listening check</title>
<style>
body{font-family:sans-serif;max-width:860px;margin:1em auto;padding:0 1em}
.clip{border:1px solid #d0d7de;border-radius:6px;padding:8px 12px;margin:10px 0}
.clip h2{font-size:16px;margin:4px 0}
.answers button{margin:3px 4px 3px 0;padding:4px 10px}
.answers button[aria-pressed="true"]{background:#0969da;color:white}
#bar{position:sticky;top:0;background:white;padding:8px 0;border-bottom:1px solid #d0d7de}
</style></head>
<body>
<h1>Listening check</h1>
<p>Listen to each of the __N__ clips (__SECONDS__ s each) and choose the emotion you hear:
__CHOICES__, or "can't tell". Judge each clip by its sound alone; the page does not know the answers.
Your choices are kept in this browser until you download them.</p>
<div id="bar"><label>Your name <input id="listener" autocomplete="off"></label>
<span id="progress"></span>
<button type="button" id="download">Download answers</button>
<button type="button" id="reset">New listener (clear name and answers)</button></div>
<div id="clips"></div>
<script type="application/json" id="listening-data">__DATA__</script>
<script>
"use strict";
const DATA = JSON.parse(document.getElementById("listening-data").textContent);
const STORE = "emoprobe-listening-" + DATA.page_id;
function load() {
  try { return JSON.parse(localStorage.getItem(STORE)) || {listener: "", answers: {}}; }
  catch (e) { return {listener: "", answers: {}}; }
}
let state = load();
function save() { try { localStorage.setItem(STORE, JSON.stringify(state)); } catch (e) {} }
function audioUrl(b64) {
  const bytes = Uint8Array.from(atob(b64), c => c.charCodeAt(0));
  return URL.createObjectURL(new Blob([bytes], {type: "audio/ogg"}));
}
function render() {
  let done = 0;
  for (const clip of DATA.clips) {
    const chosen = state.answers[clip.id] ? state.answers[clip.id].answer : null;
    if (chosen) done += 1;
    for (const b of document.querySelectorAll('[data-clip="' + clip.id + '"] .answers button')) {
      b.setAttribute("aria-pressed", String(b.dataset.answer === chosen));
    }
  }
  document.getElementById("progress").textContent = done + " of " + DATA.clips.length + " answered";
}
const box = document.getElementById("clips");
DATA.clips.forEach((clip, i) => {
  const el = document.createElement("section");
  el.className = "clip"; el.id = "clip-" + clip.id; el.dataset.clip = clip.id;
  const title = document.createElement("h2"); title.textContent = "Clip " + (i + 1);
  const audio = document.createElement("audio");
  audio.controls = true; audio.preload = "metadata"; audio.src = audioUrl(clip.audio);
  const answers = document.createElement("div"); answers.className = "answers";
  DATA.options.forEach((option, j) => {
    const b = document.createElement("button");
    b.type = "button"; b.dataset.answer = option; b.textContent = DATA.labels[j];
    b.addEventListener("click", () => {
      state.answers[clip.id] = {answer: option, at: new Date().toISOString()};
      save(); render();
    });
    answers.appendChild(b);
  });
  el.append(title, audio, answers);
  box.appendChild(el);
});
const who = document.getElementById("listener");
who.value = state.listener || "";
who.addEventListener("input", () => { state.listener = who.value; save(); });
function answersDocument() {
  return {format: DATA.format, page_id: DATA.page_id, listener: state.listener || "",
          downloaded: new Date().toISOString(), n_clips: DATA.clips.length,
          answers: DATA.clips.filter(c => state.answers[c.id])
                             .map(c => ({clip: c.id, answer: state.answers[c.id].answer, at: state.answers[c.id].at}))};
}
document.getElementById("download").addEventListener("click", () => {
  const doc = answersDocument();
  const a = document.createElement("a");
  a.href = URL.createObjectURL(new Blob([JSON.stringify(doc, null, 1)], {type: "application/json"}));
  const name = (doc.listener || "anonymous").replace(/[^A-Za-z0-9_-]+/g, "_");
  a.download = "answers-" + DATA.page_id + "-" + name + ".json";
  document.body.appendChild(a); a.click(); a.remove();
});
// One browser, several listeners: the next must not start from (or sign) the previous one's answers.
document.getElementById("reset").addEventListener("click", () => {
  state = {listener: "", answers: {}};
  try { localStorage.removeItem(STORE); } catch (e) {}
  who.value = "";
  render();
});
render();
</script>
</body></html>
"""


# -- score --------------------------------------------------------------------


@dataclass(frozen=True)
class ListenerAnswers:
    listener: str
    source: str
    answers: Mapping[str, str]  # clip id -> emotion or CANT_TELL
    missing: tuple[str, ...]
    stamps: Mapping[str, Any] = dataclasses.field(default_factory=dict)  # clip id -> when answered (the page's "at")


def _no_duplicate_keys(pairs):
    keys = [k for k, _ in pairs]
    duplicated = sorted({k for k in keys if keys.count(k) > 1})
    if duplicated:
        raise ListeningError(f"duplicate field(s) {duplicated}")
    return dict(pairs)


def _read_json(path: str | Path, what: str) -> Any:
    try:
        return json.loads(Path(path).read_text(), object_pairs_hook=_no_duplicate_keys)
    except OSError as err:
        raise ListeningError(f"cannot read {what} {path}: {err}") from None
    except (json.JSONDecodeError, UnicodeDecodeError, ListeningError) as err:
        raise ListeningError(f"{what} {path} is malformed: {err}") from None


_KEY_FIELDS = {"page_id": str, "model": str, "emotions": list, "clips": list, "seed": int,
               "clips_per_emotion": int, "clip_seconds": (int, float)}
_CLIP_FIELDS = {"clip": str, "emotion": str, "sample_key": str}


def read_key(path: str | Path) -> dict:
    """A key whose fields are all there and whose page id is the hash of its clips, seed and model."""
    key = _read_json(path, "key file")
    if not isinstance(key, dict) or key.get("format") != KEY_FORMAT:
        raise ListeningError(f"{path} is not a listening key ({KEY_FORMAT})")
    bad = sorted(f for f, kind in _KEY_FIELDS.items() if not isinstance(key.get(f), kind) or isinstance(key.get(f), bool))
    if bad:
        raise ListeningError(f"key file {path} is malformed: field(s) {bad} missing or of the wrong type")
    emotions = key["emotions"]
    if not emotions or not all(isinstance(e, str) for e in emotions):
        raise ListeningError(f"key file {path} is malformed: emotions {emotions!r}")
    for clip in key["clips"]:
        if not (isinstance(clip, dict) and all(isinstance(clip.get(f), kind) for f, kind in _CLIP_FIELDS.items())
                and clip["emotion"] in emotions):
            raise ListeningError(f"key file {path} is malformed: clip entry {clip!r}")
    if page_id_of(key["clips"], key["seed"], key["model"]) != key["page_id"]:
        raise ListeningError(f"key file {path} does not match its page id {key['page_id']}: its clips, labels, "
                             "seed or model were changed after the page was built")
    return key


def read_answers(path: str | Path, key: Mapping[str, Any]) -> ListenerAnswers:
    """One listener's answers, checked against ``key``; ListeningError says what is wrong."""
    doc = _read_json(path, "answers file")
    if not isinstance(doc, dict) or doc.get("format") != ANSWERS_FORMAT or not isinstance(doc.get("answers"), list):
        raise ListeningError(f"answers file {path} is malformed: expected {ANSWERS_FORMAT} with a list of answers")
    if doc.get("page_id") != key["page_id"]:
        raise ListeningError(
            f"answers file {path} is for another listening page (page id {doc.get('page_id')!r}), not the one "
            f"of this key ({key['page_id']}, {key['model']}): it belongs to another run or another build")
    options = {*key["emotions"], CANT_TELL}
    clips = [c["clip"] for c in key["clips"]]
    answers: dict[str, str] = {}
    stamps: dict[str, Any] = {}
    for entry in doc["answers"]:
        if not isinstance(entry, dict) or not isinstance(entry.get("clip"), str):
            raise ListeningError(f"answers file {path} is malformed: entry {entry!r} names no clip")
        clip, answer = entry["clip"], entry.get("answer")
        if clip not in clips:
            raise ListeningError(f"answers file {path} is malformed: clip {clip!r} is not on the page")
        if not isinstance(answer, str) or answer not in options:
            raise ListeningError(f"answers file {path} is malformed: clip {clip} has answer {answer!r}, "
                                 f"not one of {sorted(options)}")
        if clip in answers:
            raise ListeningError(f"answers file {path} answers clip {clip} twice")
        answers[clip] = answer
        stamps[clip] = entry.get("at")
    listener = doc.get("listener") or Path(path).stem
    return ListenerAnswers(str(listener), str(path), answers, tuple(c for c in clips if c not in answers),
                           stamps)


def accuracy_test(truth: Mapping[str, str], answers: Mapping[str, str], n_emotions: int) -> dict:
    """Accuracy over the clips answered with an emotion, against chance 1/k: exact one-sided binomial."""
    from scipy.stats import binomtest

    committed = [c for c in truth if answers.get(c, CANT_TELL) != CANT_TELL]
    n_correct = sum(answers[c] == truth[c] for c in committed)
    chance = 1 / n_emotions
    out = {"n_committed": len(committed), "n_correct": n_correct, "chance": chance}
    if not committed:
        return {**out, "accuracy": None, "pvalue": None, "ci95": None}
    test = binomtest(n_correct, len(committed), chance, alternative="greater")
    ci = test.proportion_ci(0.95)
    return {**out, "accuracy": n_correct / len(committed), "pvalue": float(test.pvalue),
            "ci95": [float(ci.low), float(ci.high)]}


def score_answers(truth: Mapping[str, str], answers: Mapping[str, str], emotions: Sequence[str]) -> dict:
    """Accuracy against chance, confusion, kappa and recall of one set of answers (clip -> answer)."""
    from sklearn.metrics import cohen_kappa_score, confusion_matrix

    emotions = list(emotions)
    answered = [c for c in truth if c in answers]
    committed = [c for c in answered if answers[c] != CANT_TELL]
    y_true = [truth[c] for c in committed]
    y_pred = [answers[c] for c in committed]
    test = accuracy_test(truth, answers, len(emotions))
    columns = [*emotions, CANT_TELL]
    confusion = (confusion_matrix([truth[c] for c in answered], [answers[c] for c in answered], labels=columns)
                 [: len(emotions)] if answered else np.zeros((len(emotions), len(columns)), int))
    recall = {}
    for row, emotion in enumerate(emotions):
        n_row = int(confusion[row, : len(emotions)].sum())
        recall[emotion] = int(confusion[row, row]) / n_row if n_row else None
    kappa = None
    if committed and len(set(y_true) | set(y_pred)) > 1:
        kappa = float(cohen_kappa_score(y_true, y_pred, labels=emotions))
    return {
        "n_clips": len(truth), "n_answered": len(answered), "n_missing": len(truth) - len(answered),
        "n_cant_tell": len(answered) - len(committed), **test,
        # Counting "can't tell" as wrong: what a forced choice would at best have scored.
        "accuracy_all_answered": test["n_correct"] / len(answered) if answered else None,
        "cohen_kappa": kappa, "recall": recall,
        "confusion": {"rows": emotions, "columns": columns, "counts": confusion.astype(int).tolist()},
    }


def pooled_answers(listeners: Sequence[ListenerAnswers]) -> Mapping[str, str]:
    """The answers the check is decided on: the one listener's, or the majority per clip."""
    return listeners[0].answers if len(listeners) == 1 else majority_answers(listeners)


def majority_answers(listeners: Sequence[ListenerAnswers]) -> dict[str, str]:
    """One answer per clip: the listeners' most frequent; a tie at the top is "can't tell"."""
    from collections import Counter

    clips = sorted({c for one in listeners for c in one.answers})
    majority = {}
    for clip in clips:
        counts = Counter(one.answers[clip] for one in listeners if clip in one.answers).most_common()
        tied = len(counts) > 1 and counts[0][1] == counts[1][1]
        majority[clip] = CANT_TELL if tied else counts[0][0]
    return majority


def fleiss_kappa(listeners: Sequence[ListenerAnswers], options: Sequence[str]) -> tuple[float | None, int]:
    """Fleiss' kappa over the clips every listener answered ("can't tell" a category); and that clip count."""
    from statsmodels.stats.inter_rater import fleiss_kappa as statsmodels_fleiss

    if len(listeners) < 2:
        return None, 0
    common = sorted(set.intersection(*(set(one.answers) for one in listeners)))
    if not common:
        return None, 0
    table = np.array([[sum(one.answers[c] == o for one in listeners) for o in options] for c in common])
    value = statsmodels_fleiss(table, method="fleiss")
    return (None if not np.isfinite(value) else float(value)), len(common)


def passed(result: Mapping[str, Any], alpha: float, decisive: bool = False) -> bool | None:
    """Whether listeners beat chance at ``alpha``, from the stored p (never a stored verdict).

    None where the check cannot count: a decisive check on a page that was not
    blind (its seed was fixed in the experiment file).
    """
    if decisive and not result.get("blind", False):
        return None
    p = result["pooled"]["pvalue"]
    return p is not None and p < alpha


def score(key: Mapping[str, Any], listeners: Sequence[ListenerAnswers]) -> dict:
    """The listening check's record: each listener, the pooled (majority) result, agreement.

    No pass/fail is stored: the run that reads the result judges it with its own alpha.
    """
    if not listeners:
        raise ListeningError("no answers files to score")
    names = [one.listener for one in listeners]
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise ListeningError(f"several answers files from listener(s) {repeated}: give each listener's file once")
    # A copied file under another name would count one listener twice; honest listeners click at other times.
    for i, one in enumerate(listeners):
        for other in listeners[i + 1:]:
            if one.answers and one.answers == other.answers and one.stamps == other.stamps:
                raise ListeningError(f"{one.source} ({one.listener}) and {other.source} ({other.listener}) hold "
                                     "the same answers made at the same times: one session under two names")
    truth = {c["clip"]: c["emotion"] for c in key["clips"]}
    emotions = list(key["emotions"])
    per_listener = []
    for one in listeners:
        per_listener.append({"listener": one.listener, "file": one.source, "missing": list(one.missing),
                             **score_answers(truth, one.answers, emotions)})
    pooled = score_answers(truth, pooled_answers(listeners), emotions)
    kappa, n_common = fleiss_kappa(listeners, [*emotions, CANT_TELL])
    return {
        "format": RESULT_FORMAT, "page_id": key["page_id"], "model": key["model"], "emotions": emotions,
        "n_clips": len(truth), "clips_per_emotion": key["clips_per_emotion"], "seed": key["seed"],
        "blind": bool(key.get("blind", False)), "clip_seconds": key["clip_seconds"],
        "sample_keys": [c["sample_key"] for c in key["clips"]],
        "listeners": per_listener,
        "pooled": {"method": "one listener" if len(listeners) == 1 else "majority answer per clip (ties: can't tell)",
                   **{k: v for k, v in pooled.items() if k not in ("listener", "file", "missing")}},
        "fleiss_kappa": kappa, "fleiss_kappa_clips": n_common,
        "scored": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }


def summary_line(result: Mapping[str, Any]) -> str:
    pooled = result["pooled"]
    n = len(result["listeners"])
    who = f"{n} listener{'s' if n > 1 else ''}"
    if pooled["accuracy"] is None:
        return (f"{who}: no emotion named ({pooled['n_cant_tell']} can't tell, {pooled['n_missing']} missing "
                f"of {pooled['n_clips']} clips), nothing to test")
    return (f"{who}: accuracy {pooled['accuracy']:.2f} over {pooled['n_committed']} clips "
            f"(chance {pooled['chance']:.2f}), binomial p = {pooled['pvalue']:.3g}, "
            f"{pooled['n_cant_tell']} can't tell, {pooled['n_missing']} missing of {pooled['n_clips']}")


def find_key(answers_path: str | Path, search: Path = LISTENING_DIR) -> Path:
    """The key of the page an answers file came from, among the pages built under ``search``."""
    doc = _read_json(answers_path, "answers file")
    page_id = doc.get("page_id") if isinstance(doc, dict) else None
    for candidate in sorted(search.glob(f"*/{KEY_NAME}")):
        try:
            if read_key(candidate)["page_id"] == page_id:
                return candidate
        except ListeningError:
            continue
    raise ListeningError(f"no listening key under {search} has page id {page_id!r} (from {answers_path}); "
                         "give the page's key with --key")


def record_with(record_path: str | Path, result: Mapping[str, Any]) -> dict | None:
    """The decision record with ``result`` under ``listening`` of its model's entry; None if it has no such entry.

    Refused (ListeningError) when the entry is for another run of that model:
    the check's clips must be among the run's samples, as the report requires.
    """
    path = Path(record_path)
    if not path.is_file():
        return None
    record = _read_json(path, "decision record")
    models = record.get("models") if isinstance(record, dict) else None
    if not isinstance(models, dict):
        raise ListeningError(f"decision record {path} is malformed: no 'models' table")
    entry = models.get(result["model"])
    if entry is None:
        return None
    run_keys = entry.get("sample_keys") if isinstance(entry, dict) else None
    if not isinstance(run_keys, list) or not set(result["sample_keys"]) <= set(run_keys):
        raise ListeningError(
            f"decision record {path} holds another run of {result['model']} (the page's clips are not all among "
            "its samples): score into that run's record with --record, or rebuild the page from this run")
    entry["listening"] = dict(result)
    if record.get("model") == result["model"]:
        record["listening"] = dict(result)
    return record


_RESULT_FIELDS = {"page_id": str, "model": str, "emotions": list, "n_clips": int, "clips_per_emotion": int,
                  "seed": int, "clip_seconds": (int, float), "sample_keys": list, "listeners": list,
                  "pooled": dict}


def read_result(path: str | Path) -> dict:
    """A scored check (``listening.json`` or a folder holding one), its fields of the types the report uses."""
    path = Path(path)
    if path.is_dir():
        path = path / RESULT_NAME
    result = _read_json(path, "listening result")
    if not isinstance(result, dict) or result.get("format") != RESULT_FORMAT:
        raise ListeningError(f"{path} is not a scored listening check ({RESULT_FORMAT})")
    bad = sorted(f for f, kind in _RESULT_FIELDS.items()
                 if not isinstance(result.get(f), kind) or isinstance(result.get(f), bool))
    pvalue = result.get("pooled", {}).get("pvalue") if isinstance(result.get("pooled"), dict) else None
    if bad or not (pvalue is None or isinstance(pvalue, (int, float)) and not isinstance(pvalue, bool)):
        raise ListeningError(f"listening result {path} is malformed: field(s) {bad or ['pooled.pvalue']} "
                             "missing or of the wrong type")
    return result


def result_for_run(records: Sequence[str | Path], model: str,
                   run_sample_keys: Sequence[str]) -> tuple[dict | None, str | None]:
    """The scored check among ``records`` made from this run's samples, or why there is none."""
    problems = []
    run_keys = set(run_sample_keys)
    for path in records:
        try:
            result = read_result(path)
        except ListeningError as err:
            problems.append(str(err))
            continue
        if result["model"] == model and set(result["sample_keys"]) <= run_keys:
            return result, None
        problems.append(f"{path} is for another run ({result['model']}, clips not all among this run's samples)")
    return None, "; ".join(problems) or None


def criterion_for(result: Mapping[str, Any] | None, decisive: bool, alpha: float):
    """The criteria-table row of a scored check (exploratory unless ``decisive``), judged at the run's ``alpha``."""
    from .decision import Criterion

    role = "decisive" if decisive else "exploratory"
    if result is None:
        return Criterion(f"listening check ({role})", "no scored check of this run", "listeners beat chance", None)
    pooled = result["pooled"]
    value = ("no emotion named" if pooled["accuracy"] is None else
             f"accuracy {pooled['accuracy']:.2f} vs chance {pooled['chance']:.2f}, p = {pooled['pvalue']:.3g}")
    if not result.get("blind", False):
        value += "; page not blind (fixed seed)"
    return Criterion(f"listening check ({role}, {len(result['listeners'])} listener(s))", value,
                     f"binomial p < {alpha}", passed(result, alpha, decisive))


def with_listening(decision, result: Mapping[str, Any] | None, decisive: bool, *, alpha: float,
                   problem: str | None = None):
    """``decision`` with the listening row; a decisive check that failed or is missing stops a GO or PIVOT.

    A failed check is read like failed acoustic validation (rule 3 of
    emoprobe.decision, which comes before GO and PIVOT): listeners cannot hear
    the emotion, so an activation difference cannot be called emotion. A NO-GO
    or an INCONCLUSIVE stays. A decisive check that is missing, for another
    run, or not blind, has not been done: the verdict cannot rest on it.
    """
    from .decision import GO, GO_PARTIAL, GO_REDUCED, INCONCLUSIVE, PIVOT

    row = criterion_for(result, decisive, alpha)
    decision = dataclasses.replace(decision, criteria=(*decision.criteria, row))
    if not decisive or decision.verdict not in (GO, GO_PARTIAL, GO_REDUCED, PIVOT) or row.passed is True:
        return decision
    if result is None:
        why = "the required (decisive) listening check is missing for this run" + (f" ({problem})" if problem else "")
    elif row.passed is None:
        why = "the required (decisive) listening check was made on a page that is not blind (fixed seed)"
    else:
        why = f"listeners could not tell the emotions apart ({row.value})"
    return dataclasses.replace(decision, verdict=INCONCLUSIVE, reason=f"{decision.reason}; but {why}")


def plot_confusion(result: Mapping[str, Any]) -> bytes:
    """The pooled confusion matrix as a heatmap (rows: the emotion asked for; columns: the answer)."""
    from .report import _figure, _png

    plt = _figure()
    confusion = result["pooled"]["confusion"]
    counts = np.array(confusion["counts"])
    fig, ax = plt.subplots(figsize=(1.1 * counts.shape[1] + 1.5, 0.8 * counts.shape[0] + 1.2))
    ax.imshow(counts, cmap="Blues", vmin=0)
    for (i, j), value in np.ndenumerate(counts):
        ax.text(j, i, str(value), ha="center", va="center", color="black" if value <= counts.max() / 2 else "white")
    ax.set_xticks(range(counts.shape[1]), [option_label(c) for c in confusion["columns"]], rotation=30, fontsize=8)
    ax.set_yticks(range(counts.shape[0]), confusion["rows"], fontsize=8)
    ax.set_xlabel("answer")
    ax.set_ylabel("emotion of the prompt")
    ax.set_title("Listening check: confusion", fontsize=10)
    return _png(fig)


def report_section(result: Mapping[str, Any] | None, problem: str | None = None) -> str:
    """The report's "Listening check" body."""
    from . import report

    if result is None:
        return f"<p>{html.escape(problem or 'No scored listening check for this run.')}</p>"
    rows = []
    for one in [*result["listeners"], *([{"listener": "majority", **result["pooled"]}]
                                        if len(result["listeners"]) > 1 else [])]:
        rows.append([one["listener"], one["n_committed"], one["n_cant_tell"], one["n_missing"], one["accuracy"],
                     one["chance"], one["pvalue"], one["cohen_kappa"],
                     ", ".join(f"{e} {r:.2f}" if r is not None else f"{e} -" for e, r in one["recall"].items())])
    blind = "Blind" if result.get("blind", False) else "NOT blind (the seed was fixed in the experiment file)"
    seconds = result["clip_seconds"]
    seconds = f"{seconds:g}" if isinstance(seconds, (int, float)) else seconds
    parts = [html.escape(f"{summary_line(result)}. {blind}: {result['n_clips']} clips, {result['clips_per_emotion']} "
                         f"per emotion, {seconds} s each, shuffled with seed {result['seed']}.", quote=False).join(("<p>", "</p>")),
             report.png_img(plot_confusion(result), "listening confusion", 460),
             report.table(["listener", "named", "can't tell", "missing", "accuracy", "chance", "binomial p",
                           "Cohen's kappa", "recall"], rows, "emoprobe-listening")]
    if result["fleiss_kappa"] is not None:
        parts.append(html.escape(f"Agreement between listeners: Fleiss' kappa {float(result['fleiss_kappa']):.3f} "
                                 f"over {result['fleiss_kappa_clips']} clips.", quote=False).join(("<p>", "</p>")))
    return "".join(parts)


# -- command line -------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m emoprobe.listen",
                                     description="A blinded listening check of a run's samples.")
    commands = parser.add_subparsers(dest="command", required=True)
    make = commands.add_parser("build", help="write the listening page and its key from the cached samples")
    make.add_argument("--experiment", default=None, help="experiment TOML (default: configs/experiment.toml)")
    make.add_argument("--model", default=None, help="as the suite's --model (one model per page)")
    make.add_argument("--cache-dir", default=None, help="sample store folder (default .cache/emoprobe)")
    make.add_argument("--n-per-emotion", type=int, default=None, help="samples per emotion of the run")
    make.add_argument("--seed", type=int, default=None, help="base seed of the run's sample plan")
    make.add_argument("--emotions", default=None, help="comma-separated subset of the config's emotions")
    make.add_argument("--out", default=None, help="folder for the page and key (default reports/listening/<model>)")
    rate = commands.add_parser("score", help="score answers files against the page's key")
    rate.add_argument("answers", nargs="+", help="answers files downloaded from the page (one per listener)")
    rate.add_argument("--key", default=None, help=f"the page's {KEY_NAME} (default: found under reports/listening)")
    rate.add_argument("--record", default=str(REPO_ROOT / "reports" / "decision.json"),
                      help="decision record to add the result to, when it holds the page's model")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.command == "build":
            from .models import ModelNotFoundError, describe_model

            config = load_config(args.experiment, Overrides(
                model=args.model, n_per_emotion=args.n_per_emotion, seed=args.seed, cache_dir=args.cache_dir,
                emotions=args.emotions))
            try:
                info = describe_model(config.model)
            except ModelNotFoundError as err:
                raise ListeningError(str(err)) from None
            page, key = build(config, info, args.out)
            built = read_key(key)
            print(f"emoprobe.listen: {page} ({len(built['clips'])} clips); key {key} "
                  "(keep it away from the listeners)")
            if not built["blind"]:
                print("emoprobe.listen: NOT BLIND: listening.seed is fixed in the experiment file, so anyone with "
                      "it can rebuild the order; a decisive check will not count this page", file=sys.stderr)
            return 0
        key_path = Path(args.key) if args.key else find_key(args.answers[0])
        key = read_key(key_path)
        listeners = [read_answers(path, key) for path in args.answers]
        result = score(key, listeners)
        record = record_with(args.record, result)
    except (ListeningError, ConfigError) as err:
        print(f"emoprobe.listen: {err}", file=sys.stderr)
        return 2
    # Written only now that everything is checked; the history keeps every scoring, so a later
    # score of fewer files cannot silently drop a listener.
    out = key_path.parent / RESULT_NAME
    atomic_write_bytes(out, json.dumps(result, indent=2).encode())
    with open(key_path.parent / HISTORY_NAME, "a") as history:
        history.write(json.dumps(result) + "\n")
    if record is not None:
        atomic_write_bytes(Path(args.record), json.dumps(record, indent=2, default=str).encode())
    for one in listeners:
        if one.missing:
            print(f"emoprobe.listen: {one.listener} left {len(one.missing)} of {result['n_clips']} clips "
                  f"unanswered; scored on the {result['n_clips'] - len(one.missing)} answered")
    print(f"emoprobe.listen: {summary_line(result)}")
    print(f"emoprobe.listen: result in {out} (every scoring kept in {HISTORY_NAME})"
          + (f" and in {args.record}" if record is not None else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
