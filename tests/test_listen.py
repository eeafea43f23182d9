"""The blinded listening check: scoring on answers with a known result, bad input, and a page
built on the tiny model, read and clicked through in headless Chromium."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest
from chromium import CHROMIUM, Chromium

from emoprobe import listen
from emoprobe.config import DEFAULT_CONFIG_PATH, Overrides, load_config, plan_samples
from emoprobe.dataset import collect_samples
from emoprobe.decision import GO, INCONCLUSIVE, NO_GO, Criterion, Decision
from emoprobe.listen import CANT_TELL, ListenerAnswers, ListeningError
from emoprobe.models import describe_model
from emoprobe.store import SampleStore

EMOTIONS = ["happy", "sad", "calm", "energetic"]

# --- scoring on answers with a known result -----------------------------------


def make_key(per_emotion: int = 6, emotions=EMOTIONS, seed: int = 0, blind: bool = True) -> dict:
    """A key as build writes it (no audio needed to score), clips shuffled, its page id the hash build makes."""
    labels = [e for e in emotions for _ in range(per_emotion)]
    order = np.random.default_rng(seed).permutation(len(labels))
    clips = [{"clip": f"c{i + 1:02d}", "emotion": labels[j], "prompt": f"{labels[j]} tune", "prompt_id": "x",
              "seed": int(j), "sample_key": f"k{j}"} for i, j in enumerate(order)]
    return {"format": listen.KEY_FORMAT, "page_id": listen.page_id_of(clips, seed, "tiny"), "model": "tiny",
            "emotions": list(emotions), "clips_per_emotion": per_emotion, "seed": seed, "blind": blind,
            "clip_seconds": 8.0, "clips": clips}


def truth_of(key) -> dict[str, str]:
    return {c["clip"]: c["emotion"] for c in key["clips"]}


def listener(answers: dict[str, str], name: str = "ann", key=None) -> ListenerAnswers:
    missing = tuple(c for c in truth_of(key) if c not in answers) if key else ()
    # Each listener clicks at their own times.
    return ListenerAnswers(name, f"{name}.json", answers, missing, {c: f"{name}-{c}" for c in answers})


def test_perfect_listener_is_far_above_chance():
    key = make_key()
    result = listen.score(key, [listener(truth_of(key))])
    pooled = result["pooled"]
    assert pooled["accuracy"] == 1.0 and pooled["chance"] == 0.25 and pooled["n_correct"] == 24
    assert pooled["pvalue"] == pytest.approx(0.25 ** 24)  # exact: every one of 24 right by luck
    assert pooled["cohen_kappa"] == pytest.approx(1.0)
    assert pooled["recall"] == {e: 1.0 for e in EMOTIONS}
    counts = np.array(pooled["confusion"]["counts"])
    assert (counts[:, :4] == 6 * np.eye(4)).all() and (counts[:, 4] == 0).all()
    assert listen.passed(result, 0.05) is True and result["fleiss_kappa"] is None


def test_chance_listener_scores_chance_and_does_not_pass():
    # Each emotion's four clips get each of the four answers once: exactly chance, kappa exactly 0.
    key = make_key(per_emotion=4)
    seen: dict[str, int] = {}
    answers = {}
    for clip, emotion in truth_of(key).items():
        i = seen.setdefault(emotion, 0)
        seen[emotion] += 1
        answers[clip] = EMOTIONS[(EMOTIONS.index(emotion) + i) % 4]
    result = listen.score(key, [listener(answers)])
    pooled = result["pooled"]
    assert pooled["accuracy"] == 0.25 and pooled["cohen_kappa"] == pytest.approx(0.0, abs=1e-12)
    assert (np.array(pooled["confusion"]["counts"])[:, :4] == 1).all()
    from scipy.stats import binom

    assert pooled["pvalue"] == pytest.approx(binom.sf(3, 16, 0.25))  # P(X >= 4), about 0.59
    assert listen.passed(result, 0.05) is False


def test_all_cant_tell_is_counted_apart_and_has_nothing_to_test():
    key = make_key()
    result = listen.score(key, [listener({c: CANT_TELL for c in truth_of(key)})])
    pooled = result["pooled"]
    assert (pooled["n_cant_tell"], pooled["n_committed"], pooled["n_missing"]) == (24, 0, 0)
    assert pooled["accuracy"] is None and pooled["pvalue"] is None and pooled["cohen_kappa"] is None
    assert (np.array(pooled["confusion"]["counts"])[:, 4] == 6).all()
    assert listen.passed(result, 0.05) is False
    assert "no emotion named (24 can't tell" in listen.summary_line(result)


def test_cant_tell_leaves_accuracy_over_the_named_clips():
    key = make_key()
    truth = truth_of(key)
    clips = list(truth)
    answers = {c: (truth[c] if i < 12 else CANT_TELL) for i, c in enumerate(clips)}
    pooled = listen.score(key, [listener(answers)])["pooled"]
    assert (pooled["accuracy"], pooled["n_committed"], pooled["n_cant_tell"]) == (1.0, 12, 12)
    assert pooled["accuracy_all_answered"] == 0.5


def test_a_mislabelled_key_lowers_the_score():
    """Scoring reads the key: perfect answers against a key with two labels swapped lose two clips."""
    key = make_key()
    answers = truth_of(key)
    wrong = json.loads(json.dumps(key))
    first = wrong["clips"][0]
    other = next(c for c in wrong["clips"] if c["emotion"] != first["emotion"])
    first["emotion"], other["emotion"] = other["emotion"], first["emotion"]
    pooled = listen.score(wrong, [listener(answers)])["pooled"]
    assert pooled["n_correct"] == 22 and pooled["accuracy"] == pytest.approx(22 / 24)
    assert min(r for r in pooled["recall"].values()) == pytest.approx(5 / 6)


def simulate(rng, key, n_listeners: int, hears: float) -> list[ListenerAnswers]:
    """Listeners who hear the emotion with probability ``hears`` and otherwise guess uniformly."""
    truth = truth_of(key)
    out = []
    for k in range(n_listeners):
        hear = rng.random(len(truth)) < hears
        guess = rng.choice(EMOTIONS, len(truth))
        out.append(listener({c: (t if h else g) for (c, t), h, g in zip(truth.items(), hear, guess)}, f"l{k}"))
    return out


@pytest.mark.parametrize("n_listeners", [1, 3])
def test_guessing_listeners_pass_at_most_alpha_of_the_time_and_hearing_ones_nearly_always(n_listeners):
    """Both sides of the check over 400 simulated listening sessions each (24 clips, alpha 0.05)."""
    rng = np.random.default_rng(18)
    key = make_key()
    truth = truth_of(key)

    def passes(hears: float) -> bool:
        return listen.accuracy_test(truth, listen.pooled_answers(simulate(rng, key, n_listeners, hears)),
                                    len(EMOTIONS))["pvalue"] < 0.05

    null = np.mean([passes(0.0) for _ in range(400)])
    # The exact test is conservative; 0.05 plus three binomial standard errors over 400 runs.
    assert null <= 0.05 + 3 * np.sqrt(0.05 * 0.95 / 400), null
    power = np.mean([passes(0.5) for _ in range(400)])
    assert power >= 0.9, power
    # score() decides on the same answers and test.
    for hears in (0.0, 0.5):
        listeners = simulate(np.random.default_rng(7), key, n_listeners, hears)
        expected = listen.accuracy_test(truth, listen.pooled_answers(listeners), len(EMOTIONS))["pvalue"] < 0.05
        assert listen.passed(listen.score(key, listeners), 0.05) == expected


def test_fleiss_kappa_is_one_for_agreement_and_near_zero_for_independent_guessing():
    key = make_key()
    same = [listener(truth_of(key), name) for name in ("a", "b", "c")]
    kappa, n = listen.fleiss_kappa(same, [*EMOTIONS, CANT_TELL])
    assert kappa == pytest.approx(1.0) and n == 24
    rng = np.random.default_rng(1)
    kappas = [listen.fleiss_kappa(simulate(rng, key, 3, 0.0), [*EMOTIONS, CANT_TELL])[0] for _ in range(200)]
    assert abs(np.mean(kappas)) < 0.03 and max(kappas) < 0.5
    # Listeners who each hear the emotion with probability h (else guess among k): expected kappa is h^2.
    kappas = [listen.fleiss_kappa(simulate(rng, key, 3, 0.6), [*EMOTIONS, CANT_TELL])[0] for _ in range(200)]
    assert np.mean(kappas) == pytest.approx(0.36, abs=0.03)


def test_fleiss_kappa_matches_the_textbook_example():
    # Fleiss (1971) as reproduced on Wikipedia: 10 subjects, 14 raters, 5 categories, kappa 0.210.
    table = [[0, 0, 0, 0, 14], [0, 2, 6, 4, 2], [0, 0, 3, 5, 6], [0, 3, 9, 2, 0], [2, 2, 8, 1, 1],
             [7, 7, 0, 0, 0], [3, 2, 6, 3, 0], [2, 5, 3, 2, 2], [6, 5, 2, 1, 0], [0, 2, 2, 3, 7]]
    options = ["a", "b", "c", "d", "e"]
    raters = [listener({f"s{i}": next(o for o, upto in zip(options, np.cumsum(row)) if r < upto)
                        for i, row in enumerate(table)}, f"r{r}") for r in range(14)]
    assert listen.fleiss_kappa(raters, options)[0] == pytest.approx(0.210, abs=5e-4)


def test_several_listeners_are_pooled_by_majority_per_clip():
    key = make_key()
    truth = truth_of(key)
    clips = list(truth)
    wrong = {c: EMOTIONS[(EMOTIONS.index(truth[c]) + 1) % 4] for c in clips}
    a, b = listener(dict(truth), "a"), listener(dict(truth), "b")
    c = listener(wrong, "c")
    result = listen.score(key, [a, b, c])
    assert [one["accuracy"] for one in result["listeners"]] == [1.0, 1.0, 0.0]
    assert result["pooled"]["accuracy"] == 1.0 and result["pooled"]["n_committed"] == 24
    # A one-one tie is no answer: "can't tell".
    assert listen.majority_answers([a, c]) == {clip: CANT_TELL for clip in clips}


def test_decisive_failed_check_stops_a_go_and_exploratory_only_adds_a_row():
    key = make_key()
    failed = listen.score(key, [listener({c: CANT_TELL for c in truth_of(key)})])
    passed = listen.score(key, [listener(truth_of(key))])
    go = Decision(GO, "gap 0.03 at layer 2", (Criterion("gap", "0.03", ">= 0.02", True),))
    exploratory = listen.with_listening(go, failed, decisive=False, alpha=0.05)
    assert exploratory.verdict == GO and exploratory.criteria[-1].name.startswith("listening check (exploratory")
    assert exploratory.criteria[-1].passed is False
    assert listen.with_listening(go, failed, decisive=True, alpha=0.05).verdict == INCONCLUSIVE
    assert listen.with_listening(go, passed, decisive=True, alpha=0.05).verdict == GO
    no_go = Decision(NO_GO, "nothing", ())
    assert listen.with_listening(no_go, passed, decisive=True, alpha=0.05).verdict == NO_GO
    assert listen.with_listening(go, None, decisive=True, alpha=0.05).criteria[-1].passed is None


# --- bad input -------------------------------------------------------------------


def answers_file(path: Path, key: dict, answers, page_id=None, listener_name="ann") -> Path:
    doc = {"format": listen.ANSWERS_FORMAT, "page_id": page_id or key["page_id"], "listener": listener_name,
           "answers": [{"clip": c, "answer": a} for c, a in answers]}
    path.write_text(json.dumps(doc))
    return path


def test_answers_for_another_run_are_refused(tmp_path):
    key = make_key()
    path = answers_file(tmp_path / "a.json", key, truth_of(key).items(), page_id="someotherpage")
    with pytest.raises(ListeningError, match="another listening page .*another run"):
        listen.read_answers(path, key)


@pytest.mark.parametrize("text, message", [
    ("{not json", "malformed"),
    ('{"format": "emoprobe-listening-answers/1", "page_id": "PAGE", "answers": {}}', "malformed"),
    ('{"format": "emoprobe-listening-answers/1", "page_id": "PAGE", "page_id": "PAGE", "answers": []}',
     r"duplicate field\(s\) \['page_id'\]"),
    ('{"format": "emoprobe-listening-answers/1", "page_id": "PAGE", "answers": [{"clip": "c99", "answer": "sad"}]}',
     "c99.* not on the page"),
    ('{"format": "emoprobe-listening-answers/1", "page_id": "PAGE", "answers": [{"clip": "c01", "answer": "angry"}]}',
     "'angry'"),
])
def test_malformed_answers_are_refused(tmp_path, text, message):
    path = tmp_path / "a.json"
    key = make_key()
    path.write_text(text.replace("PAGE", key["page_id"]))
    with pytest.raises(ListeningError, match=message):
        listen.read_answers(path, key)


def test_duplicate_answers_for_one_clip_are_refused(tmp_path):
    key = make_key()
    path = answers_file(tmp_path / "a.json", key, [("c03", "sad"), ("c03", "happy")])
    with pytest.raises(ListeningError, match="answers clip c03 twice"):
        listen.read_answers(path, key)


def test_the_same_listener_twice_is_refused():
    key = make_key()
    with pytest.raises(ListeningError, match=r"listener\(s\) \['ann'\]"):
        listen.score(key, [listener(truth_of(key)), listener(truth_of(key))])


def test_an_incomplete_file_is_scored_on_what_it_holds_and_says_what_is_missing(tmp_path, capsys):
    key = make_key()
    key_path = tmp_path / listen.KEY_NAME
    key_path.write_text(json.dumps(key))
    truth = list(truth_of(key).items())
    path = answers_file(tmp_path / "a.json", key, truth[:20])
    status = listen.main(["score", str(path), "--key", str(key_path), "--record", str(tmp_path / "none.json")])
    out = capsys.readouterr().out
    assert status == 0, out
    assert "left 4 of 24 clips unanswered; scored on the 20 answered" in out
    result = json.loads((tmp_path / listen.RESULT_NAME).read_text())
    assert result["pooled"]["n_missing"] == 4 and result["pooled"]["accuracy"] == 1.0
    assert result["listeners"][0]["missing"] == [c for c, _ in truth[20:]]


def test_score_command_refuses_another_runs_answers_with_status_2(tmp_path, capsys):
    key = make_key()
    (tmp_path / listen.KEY_NAME).write_text(json.dumps(key))
    path = answers_file(tmp_path / "a.json", key, truth_of(key).items(), page_id="feedfacefeedface")
    assert listen.main(["score", str(path), "--key", str(tmp_path / listen.KEY_NAME)]) == 2
    assert "another listening page" in capsys.readouterr().err
    assert not (tmp_path / listen.RESULT_NAME).exists()


def test_score_finds_the_key_of_the_answers_page_among_the_built_pages(tmp_path):
    for name, seed in (("tiny", 0), ("large", 1)):
        (tmp_path / name).mkdir()
        (tmp_path / name / listen.KEY_NAME).write_text(json.dumps(make_key(seed=seed)))
    key = make_key(seed=1)
    path = answers_file(tmp_path / "a.json", key, truth_of(key).items())
    assert listen.find_key(path, search=tmp_path) == tmp_path / "large" / listen.KEY_NAME
    stray = answers_file(tmp_path / "b.json", key, truth_of(key).items(), page_id="p9")
    with pytest.raises(ListeningError, match="no listening key .* page id 'p9'.*--key"):
        listen.find_key(stray, search=tmp_path)


def test_score_goes_into_the_runs_decision_record(tmp_path):
    key = make_key()
    (tmp_path / listen.KEY_NAME).write_text(json.dumps(key))
    record = tmp_path / "decision.json"
    run_keys = [c["sample_key"] for c in key["clips"]] + ["k-not-on-the-page"]
    record.write_text(json.dumps({"model": "tiny", "verdict": "NO-GO",
                                  "models": {"tiny": {"verdict": "NO-GO", "sample_keys": run_keys}}}))
    path = answers_file(tmp_path / "a.json", key, truth_of(key).items())
    assert listen.main(["score", str(path), "--key", str(tmp_path / listen.KEY_NAME), "--record", str(record)]) == 0
    written = json.loads(record.read_text())
    assert written["listening"]["pooled"]["accuracy"] == 1.0
    assert written["models"]["tiny"]["listening"]["page_id"] == key["page_id"]
    assert listen.read_result(tmp_path)["page_id"] == key["page_id"]


# --- a page built on the tiny model ---------------------------------------------


def small_experiment(tmp_path: Path) -> Path:
    """configs/experiment.toml with half-second samples, 6 per emotion (5 per extreme prompt: the fewest whose
    positive control the design check lets run on 4 layers), 2 clips per emotion, and few permutations."""
    text = DEFAULT_CONFIG_PATH.read_text()
    for old, new in [("duration_s = 10.0", "duration_s = 0.5"), ("batch_size = 8", "batch_size = 24"),
                     ("n_per_emotion = 20", "n_per_emotion = 6"), ("clips_per_emotion = 6", "clips_per_emotion = 2"),
                     ("n_per_prompt = 10", "n_per_prompt = 5"),
                     # The report test's evidence sections run these; the listening check needs none.
                     ("n_permutations = 10000", "n_permutations = 200"), ("n_bootstrap = 2000", "n_bootstrap = 100")]:
        assert old in text, old
        text = text.replace(old, new)
    path = tmp_path / "experiment.toml"
    path.write_text(text)
    return path


@pytest.fixture(scope="module")
def built_page(tmp_path_factory):
    """The page and key of a tiny run: samples generated first (build itself only loads)."""
    root = tmp_path_factory.mktemp("listen")
    experiment = small_experiment(root)
    config = load_config(experiment, Overrides(model="tiny", cache_dir=str(root / "cache")))
    argv = ["build", "--experiment", str(experiment), "--model", "tiny", "--cache-dir", str(root / "cache"),
            "--out", str(root / "page")]
    assert listen.main(argv) == 2  # nothing cached yet: build refuses rather than generate
    collect_samples(config, describe_model("tiny"), SampleStore(config.cache_dir), progress=False,
                    include_extremes=False)
    assert listen.main(argv) == 0
    page, key_path = root / "page" / listen.PAGE_NAME, root / "page" / listen.KEY_NAME
    return page, listen.read_key(key_path), config, argv, root


def test_build_is_balanced_shuffled_reproducible_and_keeps_the_key_apart(built_page, tmp_path):
    page, key, config, argv, _ = built_page
    labels = [c["emotion"] for c in key["clips"]]
    assert sorted(labels) == sorted(list(config.emotions) * 2)
    runs = 1 + sum(a != b for a, b in zip(labels, labels[1:]))
    assert runs > len(config.emotions), f"page order is grouped by emotion: {labels}"
    assert [c["clip"] for c in key["clips"]] == [f"c{i:02d}" for i in range(1, 9)]
    text = page.read_text()
    for clip in key["clips"]:
        assert clip["prompt"] not in text and clip["sample_key"] not in text and str(clip["seed"]) not in text
    # The key's seed, and only it, reproduces the page's clips and order.
    specs = listen.choose_clips(plan_samples(config, include_extremes=False), list(config.emotions), 2, key["seed"])
    assert [(s.condition, s.prompt) for s in specs] == [(c["emotion"], c["prompt"]) for c in key["clips"]]
    assert key["blind"] is True


def test_a_rebuild_from_the_config_alone_cannot_reproduce_the_page(built_page, tmp_path, capsys):
    """The seed is drawn at build time: the same experiment file and cache give another draw each build."""
    from emoprobe.config import derive_seed

    _, key, config, argv, _ = built_page
    seeds, orders = {key["seed"]}, {tuple(c["sample_key"] for c in key["clips"])}
    for i in range(3):
        assert listen.main([*argv[:-1], str(tmp_path / f"again{i}")]) == 0
        again = listen.read_key(tmp_path / f"again{i}" / listen.KEY_NAME)
        assert again["page_id"] != key["page_id"] and again["blind"] is True
        seeds.add(again["seed"])
        orders.add(tuple(c["sample_key"] for c in again["clips"]))
    assert len(seeds) == 4 and len(orders) > 1
    # What the config offers (its base seed) is not the seed, and the page id does not give it away.
    for guess in (derive_seed(config.base_seed, "listening"), config.base_seed, 0):
        assert guess not in seeds
        assert listen.page_id_of(key["clips"], guess, key["model"]) != key["page_id"]
    # Fixing the seed in the experiment file (for debugging) reproduces the page, marked not blind.
    fixed = Path(argv[2]).read_text().replace("[listening]\n", "[listening]\nseed = 7\n")
    (tmp_path / "fixed.toml").write_text(fixed)
    ids = set()
    for i in range(2):
        assert listen.main([*argv[:1], "--experiment", str(tmp_path / "fixed.toml"), *argv[3:-1],
                            str(tmp_path / f"fixed{i}")]) == 0
        fixed_key = listen.read_key(tmp_path / f"fixed{i}" / listen.KEY_NAME)
        assert fixed_key["blind"] is False
        ids.add(fixed_key["page_id"])
    assert len(ids) == 1 and "NOT BLIND" in capsys.readouterr().err


def test_a_missing_model_or_too_many_clips_asked_is_one_message(built_page, capsys):
    _, _, config, argv, _ = built_page
    assert listen.main([*argv[:4], "nonesuch", *argv[5:]]) == 2
    assert "nonesuch" in capsys.readouterr().err
    with pytest.raises(ListeningError, match="fewer than the 7 clips"):
        listen.choose_clips(plan_samples(config, include_extremes=False), ["happy"], 7, 0)


@pytest.fixture
def browser(tmp_path):
    assert CHROMIUM, "Debian's chromium is needed for this test; `make test` installs it"
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    chromium = Chromium(tmp_path / "profile", downloads)
    yield chromium, downloads
    chromium.close()


def prompt_words(config) -> set[str]:
    """Every emotion name and every word of three or more letters of any prompt."""
    words = {e.lower() for e in config.emotions}
    for prompts in config.emotions.values():
        for prompt in prompts:
            words |= {w for w in re.findall(r"[a-z]+", prompt.lower()) if len(w) >= 3}
    return words


def test_the_page_is_blind_in_the_dom_after_its_scripts_ran(built_page, browser):
    page, key, config, _, _ = built_page
    chromium, _ = browser
    chromium.open(page.as_uri())
    clips = chromium.eval("""[...document.querySelectorAll('.clip')].map(el => {
        const answers = el.querySelector('.answers');
        const rest = el.cloneNode(true); rest.querySelector('.answers').remove();
        const attrs = [...rest.querySelectorAll('*'), rest].flatMap(n => [...n.attributes].map(a => a.name + '=' + a.value));
        return {id: el.dataset.clip, rest: rest.outerHTML, text: rest.textContent, attrs: attrs,
                answers: answers.outerHTML};
    })""")
    assert [c["id"] for c in clips] == [c["clip"] for c in key["clips"]]  # page order is the key's order
    forbidden = prompt_words(config)
    for clip in clips:
        words = set(re.findall(r"[a-z]+", (clip["rest"] + " ".join(clip["attrs"])).lower()))
        assert not words & forbidden, f"clip {clip['id']} shows {sorted(words & forbidden)}: {clip['rest']}"
        assert all(a.split("=", 1)[1].startswith("blob:") for a in clip["attrs"] if a.startswith("src="))
    # The answer buttons are the same for every clip (only the clip's id could differ, and it does not).
    assert len({c["answers"] for c in clips}) == 1
    assert re.findall(r'data-answer="([^"]+)"', clips[0]["answers"]) == [*config.emotions, CANT_TELL]
    # Every clip decodes in the browser, and all have one length.
    durations = chromium.eval("""Promise.all([...document.querySelectorAll('.clip audio')].map(a =>
        new Promise(r => { if (a.readyState >= 1) r(a.duration);
                           else { a.onloadedmetadata = () => r(a.duration); a.onerror = () => r(-1); } })))""")
    assert len(durations) == len(key["clips"]) and min(durations) > 0
    assert max(durations) - min(durations) < 1e-6 and durations[0] == pytest.approx(key["clip_seconds"], abs=0.05)


def test_a_click_through_persists_downloads_and_scores(built_page, browser, tmp_path, capsys):
    page, key, _, _, root = built_page
    chromium, downloads = browser
    chromium.open(page.as_uri())
    truth = [(c["clip"], c["emotion"]) for c in key["clips"]]
    # A listener who hears every emotion but the last clip's, which they skip; first a wrong click they correct.
    chromium.eval(f"document.querySelector('[data-clip=\"{truth[0][0]}\"] button[data-answer=\"{CANT_TELL}\"]').click()")
    for clip, emotion in truth[:-1]:
        chromium.eval(f"document.querySelector('[data-clip=\"{clip}\"] button[data-answer=\"{emotion}\"]').click()")
    chromium.eval("const w = document.getElementById('listener'); w.value = 'Ann Example';"
                  "w.dispatchEvent(new Event('input'))")
    # Answers survive a reload (localStorage), and the page shows them.
    chromium.open(page.as_uri())
    assert chromium.eval("document.getElementById('progress').textContent") == f"7 of {len(truth)} answered"
    assert chromium.eval("document.getElementById('listener').value") == "Ann Example"
    assert chromium.eval("[...document.querySelectorAll('button[aria-pressed=\"true\"]')].length") == 7
    chromium.eval("document.getElementById('download').click()")
    deadline = time.time() + 30
    while not list(downloads.glob("*.json")) and time.time() < deadline:
        time.sleep(0.2)
    (downloaded,) = downloads.glob("*.json")
    assert downloaded.name == f"answers-{key['page_id']}-Ann_Example.json"
    status = listen.main(["score", str(downloaded), "--key", str(page.parent / listen.KEY_NAME),
                          "--record", str(tmp_path / "none.json")])
    out = capsys.readouterr().out
    assert status == 0, out
    result = listen.read_result(page.parent)
    (one,) = result["listeners"]
    assert one["listener"] == "Ann Example" and one["n_missing"] == 1 and one["missing"] == [truth[-1][0]]
    assert (one["accuracy"], one["n_committed"], one["n_cant_tell"]) == (1.0, 7, 0)
    assert "left 1 of 8 clips unanswered" in out
    # The next listener at this browser starts clean, not from Ann's name and answers.
    chromium.eval("document.getElementById('reset').click()")
    assert chromium.eval("document.getElementById('progress').textContent") == f"0 of {len(truth)} answered"
    chromium.open(page.as_uri())
    assert chromium.eval("document.getElementById('listener').value") == ""
    assert chromium.eval("[...document.querySelectorAll('button[aria-pressed=\"true\"]')].length") == 0


def test_report_section_shows_the_confusion_and_the_listeners():
    key = make_key()
    result = listen.score(key, [listener(truth_of(key), "a"), listener(truth_of(key), "b")])
    body = listen.report_section(result)
    assert "data:image/png;base64," in body and "Fleiss' kappa 1.000" in body
    assert ">a<" in body and ">b<" in body and ">majority<" in body
    assert "No scored" in listen.report_section(None)


def test_a_result_for_another_run_is_not_shown_as_this_runs(tmp_path):
    key = make_key()
    (tmp_path / listen.RESULT_NAME).write_text(json.dumps(listen.score(key, [listener(truth_of(key))])))
    keys = [c["sample_key"] for c in key["clips"]]
    assert listen.result_for_run([tmp_path], "tiny", keys)[0]["page_id"] == key["page_id"]
    result, problem = listen.result_for_run([tmp_path], "tiny", keys[1:])
    assert result is None and "another run" in problem
    result, problem = listen.result_for_run([tmp_path], "null", keys)
    assert result is None and "another run (tiny" in problem
    result, problem = listen.result_for_run([tmp_path / "nowhere"], "tiny", keys)
    assert result is None and "cannot read" in problem


def test_the_report_shows_the_listening_check_and_its_criteria_row(built_page, tmp_path):
    """A scored check of the tiny page, given with --listening, in a (partial) suite run's report and record."""
    import subprocess
    import sys

    page, key, _, argv, root = built_page
    folder = tmp_path / "listening"
    shutil.copytree(page.parent, folder)
    answers = answers_file(tmp_path / "a.json", key, [(c["clip"], c["emotion"]) for c in key["clips"]])
    assert listen.main(["score", str(answers), "--key", str(folder / listen.KEY_NAME),
                        "--record", str(tmp_path / "none.json")]) == 0
    html = tmp_path / "report.html"
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "hypotheses/test_01_sample_size.py", "-p", "no:xdist", "-p",
         "no:cacheprovider", "--model", "tiny", "--experiment", argv[2], "--cache-dir", argv[6],
         "--listening", str(folder), f"--html={html}", "--self-contained-html", "-q"],
        cwd=Path(__file__).resolve().parents[1], capture_output=True, text=True, timeout=600)
    assert result.returncode in (0, 1), result.stdout[-3000:] + result.stderr[-3000:]
    assert "listening check (exploratory, 1 listener(s)): accuracy 1.00 vs chance 0.25" in result.stdout
    record = json.loads((tmp_path / "decision.json").read_text())
    assert record["listening"]["page_id"] == key["page_id"]
    assert [c for c in record["criteria"] if c["name"].startswith("listening check (exploratory")][0]["passed"]
    text = html.read_text()
    assert "<h2>Listening check</h2>" in text and 'alt="listening confusion"' in text
    assert "1 listener: accuracy 1.00 over 8 clips" in text


# --- the [listening] table --------------------------------------------------------


def with_listening_table(tmp_path: Path, table: str) -> Path:
    text = DEFAULT_CONFIG_PATH.read_text()
    start = text.index("[listening]")
    path = tmp_path / "experiment.toml"
    path.write_text(text[:start] + table + "\n" + text[text.index("# Resources of each shard job"):])
    return path


def test_listening_table_defaults_records_and_overrides(tmp_path):
    shipped = load_config(None).listening
    assert (shipped.clips_per_emotion, shipped.clip_seconds, shipped.decisive, shipped.records) == (6, 8.0, False, ())
    one = load_config(with_listening_table(tmp_path, '[listening]\nrecord = "a/listening.json"')).listening
    assert one.records == ("a/listening.json",)
    several = with_listening_table(tmp_path, '[listening]\nrecord = ["a", "b"]\ndecisive = true')
    assert load_config(several).listening.records == ("a", "b")
    assert load_config(several, Overrides(listening=["c"])).listening.records == ("c",)
    # Where a result lies does not change the experiment's hash; whether it decides does.
    assert load_config(several).config_hash() == load_config(several, Overrides(listening=["c"])).config_hash()
    assert load_config(several).config_hash() != load_config(None).config_hash()


@pytest.mark.parametrize("table, message", [("[listening]\nclips = 3", r"\[listening\]: unknown key 'clips'"),
                                            ("[listening]\nclips_per_emotion = 0", "at least 1"),
                                            ("[listening]\nclip_seconds = 0", "positive")])
def test_a_bad_listening_table_is_one_message(tmp_path, table, message):
    from emoprobe.config import ConfigError

    with pytest.raises(ConfigError, match=message):
        load_config(with_listening_table(tmp_path, table))


# --- what a result cannot smuggle in ------------------------------------------------


def result_with_p(pvalue: float) -> dict:
    key = make_key()
    result = listen.score(key, [listener(truth_of(key))])
    result["pooled"]["pvalue"] = pvalue
    return result


def test_pass_or_fail_is_judged_with_the_runs_alpha_never_a_stored_verdict():
    go = Decision(GO, "gap", ())
    lenient = {**result_with_p(0.03), "passed": True, "alpha": 0.5}  # as an old or edited record would hold
    assert "passed" not in listen.score(make_key(), [listener(truth_of(make_key()))])
    assert listen.with_listening(go, lenient, decisive=True, alpha=0.01).verdict == INCONCLUSIVE
    assert listen.with_listening(go, lenient, decisive=True, alpha=0.01).criteria[-1].threshold == "binomial p < 0.01"
    assert listen.with_listening(go, lenient, decisive=True, alpha=0.05).verdict == GO


def test_a_decisive_check_that_is_missing_not_blind_or_failed_stops_go_and_pivot():
    from emoprobe.decision import PIVOT

    go, pivot = Decision(GO, "gap", ()), Decision(PIVOT, "weak", ())
    missing = listen.with_listening(go, None, decisive=True, alpha=0.05, problem="x.json is for another run")
    assert missing.verdict == INCONCLUSIVE and "required (decisive) listening check is missing" in missing.reason
    assert "another run" in missing.reason
    assert listen.with_listening(go, None, decisive=False, alpha=0.05).verdict == GO
    failed = result_with_p(0.5)
    assert listen.with_listening(pivot, failed, decisive=True, alpha=0.05).verdict == INCONCLUSIVE
    assert listen.with_listening(pivot, failed, decisive=False, alpha=0.05).verdict == PIVOT
    assert listen.with_listening(pivot, result_with_p(0.001), decisive=True, alpha=0.05).verdict == PIVOT
    not_blind = {**result_with_p(0.001), "blind": False}
    stopped = listen.with_listening(go, not_blind, decisive=True, alpha=0.05)
    assert stopped.verdict == INCONCLUSIVE and "not blind" in stopped.reason
    assert listen.with_listening(go, not_blind, decisive=False, alpha=0.05).verdict == GO


def scored_files(tmp_path: Path, key: dict | None = None):
    key = key or make_key()
    key_path = tmp_path / listen.KEY_NAME
    key_path.write_text(json.dumps(key))
    return key, key_path, answers_file(tmp_path / "a.json", key, truth_of(key).items())


def test_score_refuses_a_record_of_another_run_of_the_same_model(tmp_path, capsys):
    key, key_path, answers = scored_files(tmp_path)
    record = tmp_path / "decision.json"
    other = {"model": "tiny", "verdict": "GO", "models": {"tiny": {"verdict": "GO", "sample_keys": ["k0", "zz"]}}}
    record.write_text(json.dumps(other))
    assert listen.main(["score", str(answers), "--key", str(key_path), "--record", str(record)]) == 2
    assert "holds another run of tiny" in capsys.readouterr().err
    assert json.loads(record.read_text()) == other and not (tmp_path / listen.RESULT_NAME).exists()


def test_an_edited_key_is_refused(tmp_path, capsys):
    key, key_path, answers = scored_files(tmp_path)
    key["clips"][0]["emotion"] = next(e for e in EMOTIONS if e != key["clips"][0]["emotion"])
    key_path.write_text(json.dumps(key))
    with pytest.raises(ListeningError, match="does not match its page id"):
        listen.read_key(key_path)
    assert listen.main(["score", str(answers), "--key", str(key_path), "--record", str(tmp_path / "n.json")]) == 2
    assert "does not match its page id" in capsys.readouterr().err


def test_one_session_under_two_names_is_refused_and_nothing_is_overwritten(tmp_path, capsys):
    key, key_path, answers = scored_files(tmp_path)
    doc = json.loads(answers.read_text())
    for i, entry in enumerate(doc["answers"]):
        entry["at"] = f"2026-01-01T00:00:{i:02d}Z"
    answers.write_text(json.dumps(doc))
    (tmp_path / "b.json").write_text(json.dumps({**doc, "listener": "bob"}))
    argv = ["score", "--key", str(key_path), "--record", str(tmp_path / "n.json")]
    assert listen.main([argv[0], str(answers), *argv[1:]]) == 0
    first = (tmp_path / listen.RESULT_NAME).read_text()
    assert listen.main([argv[0], str(answers), str(tmp_path / "b.json"), *argv[1:]]) == 2
    assert "one session under two names" in capsys.readouterr().err
    assert (tmp_path / listen.RESULT_NAME).read_text() == first
    # Two listeners who happen to agree on every clip, at their own times, both count.
    doc_b = {**doc, "listener": "bob", "answers": [{**e, "at": "later"} for e in doc["answers"]]}
    (tmp_path / "b.json").write_text(json.dumps(doc_b))
    assert listen.main([argv[0], str(answers), str(tmp_path / "b.json"), *argv[1:]]) == 0
    history = [json.loads(line) for line in (tmp_path / listen.HISTORY_NAME).read_text().splitlines()]
    assert [len(h["listeners"]) for h in history] == [1, 2]


@pytest.mark.parametrize("break_it, message", [
    (lambda key, doc, rec: doc["answers"][0].update(answer=["sad"]), r"has answer \['sad'\]"),
    (lambda key, doc, rec: doc["answers"][0].update(answer={"a": 1}), "has answer"),
    (lambda key, doc, rec: key.pop("emotions"), r"field\(s\) \['emotions'\] missing"),
    (lambda key, doc, rec: key.pop("page_id"), r"field\(s\) \['page_id'\] missing"),
    (lambda key, doc, rec: key.pop("model"), r"field\(s\) \['model'\] missing"),
    (lambda key, doc, rec: rec.write_text("{bad"), "decision record .* malformed"),
    (lambda key, doc, rec: rec.write_text("[1, 2]"), "decision record .* malformed"),
    (lambda key, doc, rec: rec.write_text('{"models": {"tiny": 3}}'), "another run of tiny"),
])
def test_bad_files_are_one_message_and_status_2_before_anything_is_written(tmp_path, capsys, break_it, message):
    key, key_path, answers = scored_files(tmp_path)
    doc, record = json.loads(answers.read_text()), tmp_path / "decision.json"
    record.write_text(json.dumps({"model": "tiny", "models": {}}))
    break_it(key, doc, record)
    key_path.write_text(json.dumps(key))
    answers.write_text(json.dumps(doc))
    before = record.read_text()
    assert listen.main(["score", str(answers), "--key", str(key_path), "--record", str(record)]) == 2
    err = capsys.readouterr().err
    assert re.search(message, err) and "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    assert not (tmp_path / listen.RESULT_NAME).exists() and record.read_text() == before


@pytest.mark.parametrize("field", ["seed", "n_clips", "clips_per_emotion", "clip_seconds"])
def test_a_crafted_result_cannot_put_html_into_the_report(tmp_path, field):
    key = make_key()
    result = listen.score(key, [listener(truth_of(key), "<i>ann</i>")])
    (tmp_path / listen.RESULT_NAME).write_text(json.dumps({**result, field: "<script>alert(1)</script>"}))
    with pytest.raises(ListeningError, match=f"malformed: field.*{field}"):
        listen.read_result(tmp_path)
    body = listen.report_section(result)
    assert "<i>ann</i>" not in body and "&lt;i&gt;ann&lt;/i&gt;" in body
    # Even handed a crafted result directly, the section escapes it.
    body = listen.report_section({**result, field: "<script>alert(1)</script>"})
    assert "<script>" not in body and "&lt;script&gt;alert(1)&lt;/script&gt;" in body
