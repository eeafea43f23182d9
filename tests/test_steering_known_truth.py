"""Known truth for the causal-evidence claim: steering moves the planted model's music, and nothing else's.

The planted model's audio is read from what its planted layers write into the
residual stream (``emoprobe.truth.residual_readout``), so adding the happy-minus-sad
direction at a planted layer must make its music faster, louder, brighter and
major, beyond its 99 controls (the same construction under random
relabellings of the wordings, each at the layer its own labelling chooses); at an unplanted layer the estimated
direction moves nothing planted and must not be supported, nor must steering
the null model, whose audio is the tiny decoder's, nor the lexical model, whose
audio follows the prompt's words (a model that only matches its prompt). The first run goes through
``pytest hypotheses/`` with ``--steer``, as a researcher's would, on the
experiment's own base seed. The null's false-positive rate over many draws
is in ``tests/test_steering_calibration.py`` and ``bench/bench_steering_null.py``.

The planted model passed only after the directions kept their relative sizes
(``steering.class_mean_direction``): as unit vectors, the relabellings that
swap one happy wording for a sad one lay almost as much along the planted
direction and the emotion direction ranked 3rd to 6th of 100 per feature.
"""

import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import pytest

from emoprobe import analysis, steering
from emoprobe.config import Overrides, load_config
from emoprobe.dataset import collect_samples
from emoprobe.models import describe_model
from emoprobe.store import SampleStore

REPO = Path(__file__).resolve().parents[1]
EXPERIMENT = REPO / "tests" / "data" / "steering.toml"
PLANTED = "planted:layers=1,3;size=2"
# Every word of the prompt writes its own direction and the audio follows the words, not
# the residual stream: a model that only matches its prompt, which steering must not move.
LEXICAL = "lexical:size=2"
FEATURES = ("tempo_bpm", "rms", "centroid_mean_hz", "mode")

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def steered_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("steering")
    html = out / "report.html"
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "hypotheses/test_14_steering_moves_acoustics.py", "-n", "2",
         "--model", PLANTED, "--model", "null", "--model", LEXICAL, "--steer", "--experiment", str(EXPERIMENT),
         "--cache-dir", str(out / "cache"), f"--html={html}", "--self-contained-html", "-p", "no:cacheprovider", "-q"],
        cwd=REPO, capture_output=True, text=True, timeout=2400)
    assert result.returncode in (0, 1), result.stdout[-4000:] + result.stderr[-4000:]
    return json.loads((out / "decision.json").read_text()), result, html.read_text(), out


def steering_rows(record):
    return {c["feature"]: c for c in record["claims"] if c["claim"] == "steering"}


def test_steering_a_planted_layer_moves_every_feature_the_expected_way(steered_run):
    record, result, _, _ = steered_run
    planted = record["models"][PLANTED]
    assert planted["causal_evidence"] == steering.SUPPORTED
    rows = steering_rows(planted)
    assert set(rows) == set(FEATURES)
    # Every feature moves the expected way, beyond all 99 controls, and passes Holm.
    for feature, row in rows.items():
        assert row["layer"] in (1, 3) and row["slope"] > 0 and row["supported"], (feature, row)
    assert f"causal evidence ({PLANTED}): supported" in result.stdout


@pytest.mark.parametrize("model", ["null", LEXICAL])
def test_the_null_and_the_word_matching_models_are_not_supported(steered_run, model):
    record, result, _, _ = steered_run
    found = record["models"][model]
    assert found["causal_evidence"] == steering.NOT_SUPPORTED
    assert not any(r["supported"] for r in steering_rows(found).values())
    assert f"causal evidence ({model}): not supported" in result.stdout


def test_the_report_shows_dose_response_and_players(steered_run):
    _, _, html, _ = steered_run
    assert html.count("causal evidence: supported") >= 1 and html.count("causal evidence: not supported") >= 1
    for feature in FEATURES:
        assert f'alt="dose-response {feature} layer' in html
    # -alpha, 0 and +alpha of one seed, for each model.
    assert html.count("along happy-sad, layer") == 9


def test_steering_an_unplanted_layer_does_nothing(steered_run):
    *_, out = steered_run
    config = load_config(EXPERIMENT, Overrides(model=PLANTED, cache_dir=str(out / "cache"), steer=True))
    config = dataclasses.replace(config, steering=dataclasses.replace(config.steering, layers=(2,)))
    info = describe_model(PLANTED)
    store = SampleStore(config.cache_dir)
    emotion = collect_samples(config, info, store, progress=False)[0]["emotion"]
    layers = tuple(range(info.n_layers))
    result, _, _ = steering.run(config, info, store, emotion, analysis.emotion_layers(emotion, layers, config), layers)
    assert result.layers == (2,) and result.verdict == steering.NOT_SUPPORTED, [
        (r.feature, r.slope, r.pvalue) for r in result.rows]
