"""Known-answer audio synthesis for validating the acoustic feature extractor.

Every generator here produces a mono ``float32`` clip whose answer is known by
construction: the beat period of a click track or drum pattern, the key and mode
of a chord progression, the spectral centroid of band-limited noise, the RMS of a
sine tone.  The tests in ``tests/test_acoustics.py`` run the extractor on these
clips and compare against the construction parameters.

``synthesise_emotion_audio`` combines the pieces (chords + drums, spectrally
tilted to a target brightness, scaled to a target RMS) so that a "planted"
known-truth model can emit audio whose acoustics carry an emotion's expected
signature.  Its brightness is reached by measuring the centroid with the same
definition the extractor uses and solving for the spectral tilt, so the measured
value comes out as asked rather than approximately.

All generators are deterministic given ``seed``.
"""
from __future__ import annotations

import numpy as np

__all__ = [
    "PITCH_CLASSES",
    "DRUM_PATTERNS",
    "PROGRESSIONS",
    "click_track",
    "drum_pattern",
    "chord_progression",
    "band_limited_noise",
    "sine_tone",
    "broken_chords",
    "KEYLESS_KINDS",
    "keyless_audio",
    "THIRDLESS_KINDS",
    "thirdless_audio",
    "synthesise_emotion_audio",
    "tilt_to_centroid",
]

PITCH_CLASSES = ("C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")

# Intervals (semitones above the tonic) of the chord roots and chord qualities
# for each progression.  Minor progressions use the harmonic-minor dominant (V
# major) where common practice does; that is what real minor-key music does and
# what key profiles are built from.
PROGRESSIONS: dict[str, dict[str, list[tuple[int, str]]]] = {
    "major": {
        "I-IV-V-I": [(0, "maj"), (5, "maj"), (7, "maj"), (0, "maj")],
        "I-vi-IV-V": [(0, "maj"), (9, "min"), (5, "maj"), (7, "maj")],
        "I-V-vi-IV": [(0, "maj"), (7, "maj"), (9, "min"), (5, "maj")],
    },
    "minor": {
        "i-iv-V-i": [(0, "min"), (5, "min"), (7, "maj"), (0, "min")],
        "i-VI-iv-V": [(0, "min"), (8, "maj"), (5, "min"), (7, "maj")],
        "i-iv-v-i": [(0, "min"), (5, "min"), (7, "min"), (0, "min")],
    },
}

_CHORD_INTERVALS = {"maj": (0, 4, 7), "min": (0, 3, 7)}

# Drum patterns on a 16th-note grid (16 steps per 4/4 bar).  Each entry lists,
# per instrument, the steps it plays.  "kick_every_beat" is the unambiguous
# four-on-the-floor; "rock" is kick on 1 and 3, snare on 2 and 4, closed hi-hat
# on eighths -- the pattern where beat trackers make half/double errors.
DRUM_PATTERNS: dict[str, dict[str, tuple[int, ...]]] = {
    "four_on_floor": {"kick": (0, 4, 8, 12), "snare": (4, 12), "hat": (2, 6, 10, 14)},
    "rock": {"kick": (0, 8), "snare": (4, 12), "hat": (0, 2, 4, 6, 8, 10, 12, 14)},
    "backbeat_quarter_hats": {"kick": (0, 8), "snare": (4, 12), "hat": (0, 4, 8, 12)},
    "syncopated": {"kick": (0, 6, 8), "snare": (4, 12), "hat": (0, 2, 4, 6, 8, 10, 12, 14)},
}


def _note_hz(midi: float) -> float:
    return 440.0 * 2.0 ** ((midi - 69.0) / 12.0)


def _n_samples(duration_s: float, sample_rate: int) -> int:
    if duration_s <= 0:
        raise ValueError(f"duration_s must be positive, got {duration_s}")
    if sample_rate <= 0:
        raise ValueError(f"sample_rate must be positive, got {sample_rate}")
    return int(round(duration_s * sample_rate))


def _beat_times(bpm: float, duration_s: float, offset_s: float = 0.0) -> np.ndarray:
    if bpm <= 0:
        raise ValueError(f"bpm must be positive, got {bpm}")
    return np.arange(offset_s, duration_s, 60.0 / bpm)


def _add_at(out: np.ndarray, sound: np.ndarray, start: int) -> None:
    """Mix ``sound`` into ``out`` starting at sample ``start``, truncated at the end."""
    if start >= out.size:
        return
    end = min(out.size, start + sound.size)
    out[start:end] += sound[: end - start]


def _click(sample_rate: int, freq_hz: float, length_s: float) -> np.ndarray:
    t = np.arange(int(length_s * sample_rate)) / sample_rate
    return (np.sin(2 * np.pi * freq_hz * t) * np.exp(-t / (length_s / 5))).astype(np.float64)


def _kick(sample_rate: int) -> np.ndarray:
    # Pitch-swept sine (150 -> 50 Hz), the usual synthetic kick.
    t = np.arange(int(0.25 * sample_rate)) / sample_rate
    freq = 50.0 + 100.0 * np.exp(-t / 0.03)
    phase = 2 * np.pi * np.cumsum(freq) / sample_rate
    return np.sin(phase) * np.exp(-t / 0.08)


def _snare(sample_rate: int, rng: np.random.Generator) -> np.ndarray:
    t = np.arange(int(0.18 * sample_rate)) / sample_rate
    noise = rng.standard_normal(t.size) * np.exp(-t / 0.04)
    body = np.sin(2 * np.pi * 190.0 * t) * np.exp(-t / 0.05)
    return 0.5 * noise + 0.5 * body


def _hat(sample_rate: int, rng: np.random.Generator) -> np.ndarray:
    t = np.arange(int(0.05 * sample_rate)) / sample_rate
    noise = rng.standard_normal(t.size)
    # First difference = crude high-pass, so the hat sits above the kick/snare.
    noise = np.diff(noise, prepend=0.0)
    return 0.5 * noise * np.exp(-t / 0.01)


def _peak_normalise(x: np.ndarray, peak: float = 0.5) -> np.ndarray:
    m = np.max(np.abs(x))
    return x if m == 0 else x * (peak / m)


def click_track(bpm: float, duration_s: float, sample_rate: int, *,
                click_hz: float = 1000.0, accent_every: int = 4,
                offset_s: float = 0.0) -> np.ndarray:
    """Metronome clicks at ``bpm``; every ``accent_every``-th click is louder and
    an octave higher (a downbeat), as a real metronome does.  ``accent_every=0``
    makes all clicks identical."""
    out = np.zeros(_n_samples(duration_s, sample_rate))
    plain = _click(sample_rate, click_hz, 0.03)
    accent = _click(sample_rate, 2 * click_hz, 0.03)
    for i, t in enumerate(_beat_times(bpm, duration_s, offset_s)):
        is_accent = accent_every and i % accent_every == 0
        _add_at(out, accent if is_accent else 0.6 * plain, int(round(t * sample_rate)))
    return _peak_normalise(out).astype(np.float32)


def drum_pattern(bpm: float, duration_s: float, sample_rate: int, *,
                 pattern: str = "rock", seed: int = 0,
                 swing_jitter_ms: float = 0.0) -> np.ndarray:
    """A looped one-bar drum pattern from ``DRUM_PATTERNS`` at ``bpm`` quarter
    notes per minute.  ``swing_jitter_ms`` adds Gaussian timing jitter to each hit
    (human feel) so tests can check robustness to imperfect timing."""
    if pattern not in DRUM_PATTERNS:
        raise ValueError(f"unknown pattern {pattern!r}; choose from {sorted(DRUM_PATTERNS)}")
    rng = np.random.default_rng(seed)
    out = np.zeros(_n_samples(duration_s, sample_rate))
    step_s = 60.0 / bpm / 4.0
    sounds = {"kick": (_kick(sample_rate), 1.0), "snare": (_snare(sample_rate, rng), 0.7),
              "hat": (_hat(sample_rate, rng), 0.35)}
    n_steps = int(np.ceil(duration_s / step_s))
    for step in range(n_steps):
        for name, steps in DRUM_PATTERNS[pattern].items():
            if step % 16 in steps:
                t = step * step_s + rng.normal(0.0, swing_jitter_ms / 1000.0)
                sound, gain = sounds[name]
                _add_at(out, gain * sound, max(0, int(round(t * sample_rate))))
    return _peak_normalise(out).astype(np.float32)


def _harmonic_wavetable(n_harmonics: int, size: int = 4096) -> np.ndarray:
    """One period of a waveform with harmonics 1..n_harmonics at amplitude 1/k."""
    spectrum = np.zeros(size // 2 + 1, dtype=complex)
    k = np.arange(1, min(n_harmonics, size // 2 - 1) + 1)
    spectrum[k] = -1j / k * (size / 2)
    return np.fft.irfft(spectrum, size)


def _chord_tone(freqs: list[float], n: int, sample_rate: int, n_harmonics: int | None = 6) -> np.ndarray:
    """Sum of harmonic tones (amplitude 1/k for harmonic k, up to ``n_harmonics``
    or, when None, up to Nyquist -- a band-limited sawtooth) with a short attack
    and exponential decay, like a plucked/piano-ish chord.  Rendered from a
    wavetable per note, so many harmonics cost no more than a few."""
    t = np.arange(n) / sample_rate
    env = np.minimum(1.0, t / 0.01) * np.exp(-t / 1.5)
    y = np.zeros(n)
    for f0 in freqs:
        max_h = int((sample_rate / 2 - 1) // f0)
        table = _harmonic_wavetable(max_h if n_harmonics is None else min(n_harmonics, max_h))
        phase = (f0 * t) % 1.0 * table.size
        i0 = phase.astype(int)
        frac = phase - i0
        y += table[i0] * (1 - frac) + table[(i0 + 1) % table.size] * frac
    return y * env


def chord_progression(tonic: str | int, mode: str, duration_s: float, sample_rate: int, *,
                      progression: str | None = None, bpm: float = 100.0,
                      beats_per_chord: int = 4, octave: int = 4,
                      n_harmonics: int | None = 6) -> np.ndarray:
    """A repeating chord progression in ``tonic`` ``mode`` (see ``PROGRESSIONS``),
    each chord a triad in close position plus its root an octave lower as bass,
    ``beats_per_chord`` beats at ``bpm`` per chord.  Each note has harmonics
    1..``n_harmonics`` at amplitude 1/k (None: up to Nyquist)."""
    if mode not in PROGRESSIONS:
        raise ValueError(f"mode must be 'major' or 'minor', got {mode!r}")
    tonic_pc = PITCH_CLASSES.index(tonic) if isinstance(tonic, str) else int(tonic) % 12
    prog_name = progression or next(iter(PROGRESSIONS[mode]))
    chords = PROGRESSIONS[mode][prog_name]
    n = _n_samples(duration_s, sample_rate)
    chord_len = int(round(beats_per_chord * 60.0 / bpm * sample_rate))
    out = np.zeros(n)
    base_midi = 12 * (octave + 1) + tonic_pc
    for i, start in enumerate(range(0, n, chord_len)):
        root, quality = chords[i % len(chords)]
        midis = [base_midi + root + iv for iv in _CHORD_INTERVALS[quality]]
        freqs = [_note_hz(m) for m in midis] + [_note_hz(base_midi + root - 12)]
        _add_at(out, _chord_tone(freqs, min(chord_len, n - start), sample_rate, n_harmonics), start)
    return _peak_normalise(out).astype(np.float32)


def band_limited_noise(low_hz: float, high_hz: float, duration_s: float, sample_rate: int, *,
                       seed: int = 0) -> np.ndarray:
    """Noise with a flat magnitude spectrum between ``low_hz`` and ``high_hz`` and
    nothing outside (built in the frequency domain, random phases).  Its
    magnitude-weighted spectral centroid is therefore ``(low_hz + high_hz) / 2``."""
    if not 0 <= low_hz < high_hz <= sample_rate / 2:
        raise ValueError("need 0 <= low_hz < high_hz <= sample_rate / 2")
    n = _n_samples(duration_s, sample_rate)
    rng = np.random.default_rng(seed)
    freqs = np.fft.rfftfreq(n, 1.0 / sample_rate)
    spectrum = np.where((freqs >= low_hz) & (freqs <= high_hz), 1.0, 0.0).astype(complex)
    spectrum *= np.exp(2j * np.pi * rng.random(freqs.size))
    return _peak_normalise(np.fft.irfft(spectrum, n)).astype(np.float32)


def sine_tone(freq_hz: float, rms: float, duration_s: float, sample_rate: int) -> np.ndarray:
    """A sine of amplitude ``rms * sqrt(2)``, hence RMS ``rms`` (exactly, over whole
    periods; to within rounding otherwise)."""
    t = np.arange(_n_samples(duration_s, sample_rate)) / sample_rate
    return (np.sqrt(2.0) * rms * np.sin(2 * np.pi * freq_hz * t)).astype(np.float32)


def _frame_mean_centroid(x: np.ndarray, sample_rate: int) -> float:
    # Must match acoustics.extract_features' centroid definition; imported lazily
    # so this module has no hard dependency cycle.
    from emoprobe.acoustics import spectral_centroid_stats
    return spectral_centroid_stats(x, sample_rate)[0]


def _apply_tilt(spectrum: np.ndarray, freqs: np.ndarray, tilt: float, pivot_hz: float) -> np.ndarray:
    gain = (np.maximum(freqs, 20.0) / pivot_hz) ** tilt
    return spectrum * gain


def tilt_to_centroid(x: np.ndarray, sample_rate: int, target_hz: float, *,
                     tolerance: float = 0.01, max_iter: int = 40) -> np.ndarray:
    """Apply a power-law spectral tilt ``|X(f)| * f**a`` to ``x``, solving for ``a``
    by bisection on the *measured* frame-mean spectral centroid, so the result's
    centroid is within ``tolerance`` (relative) of ``target_hz``.

    Raises ValueError when the target cannot be reached by any tilt in [-8, 8]
    (e.g. a pure tone has one centroid whatever the tilt)."""
    n = x.size
    spectrum = np.fft.rfft(x.astype(np.float64))
    freqs = np.fft.rfftfreq(n, 1.0 / sample_rate)
    pivot = 1000.0

    def render(a: float) -> np.ndarray:
        return np.fft.irfft(_apply_tilt(spectrum, freqs, a, pivot), n)

    lo, hi = -8.0, 8.0
    c_lo, c_hi = _frame_mean_centroid(render(lo), sample_rate), _frame_mean_centroid(render(hi), sample_rate)
    if not c_lo <= target_hz <= c_hi:
        raise ValueError(f"centroid {target_hz} Hz unreachable by tilting: range is "
                         f"{c_lo:.0f}-{c_hi:.0f} Hz")
    for _ in range(max_iter):
        mid = 0.5 * (lo + hi)
        y = render(mid)
        c = _frame_mean_centroid(y, sample_rate)
        if abs(c - target_hz) <= tolerance * target_hz:
            return y
        if c < target_hz:
            lo = mid
        else:
            hi = mid
    return render(0.5 * (lo + hi))


def synthesise_emotion_audio(tempo_bpm: float, mode: str, brightness_hz: float, rms: float,
                             duration_s: float, sample_rate: int, seed: int = 0, *,
                             tonic: str | int | None = None,
                             drum_style: str = "four_on_floor") -> np.ndarray:
    """A clip whose measured tempo, mode, spectral centroid and RMS are as asked.

    Construction: a chord progression in ``mode`` (random tonic and progression
    from ``seed`` unless ``tonic`` is given) changing chord every bar at
    ``tempo_bpm``, mixed with a drum pattern at ``tempo_bpm``; the mix is then
    spectrally tilted until its frame-mean centroid equals ``brightness_hz`` (see
    ``tilt_to_centroid``) and scaled to RMS ``rms``.  The chords are band-limited
    sawtooths (harmonics up to Nyquist), so brightness comes from sustained
    partials rather than drum transients and the crest factor stays below about 8
    (measured over 60-180 BPM, 400-5000 Hz): rms up to about 0.12 is safe.  A
    ValueError is raised when the asked brightness is unreachable or the asked
    rms would push the peak beyond full scale -- never a silently clipped clip.

    Returns mono float32 of ``round(duration_s * sample_rate)`` samples.
    """
    if mode not in ("major", "minor"):
        raise ValueError(f"mode must be 'major' or 'minor', got {mode!r}")
    if rms <= 0:
        raise ValueError(f"rms must be positive, got {rms}")
    rng = np.random.default_rng(seed)
    tonic_pc = int(rng.integers(12)) if tonic is None else (
        PITCH_CLASSES.index(tonic) if isinstance(tonic, str) else int(tonic) % 12)
    prog_names = list(PROGRESSIONS[mode])
    progression = prog_names[int(rng.integers(len(prog_names)))]
    chords = chord_progression(tonic_pc, mode, duration_s, sample_rate,
                               progression=progression, bpm=tempo_bpm, octave=4,
                               n_harmonics=None)
    drums = drum_pattern(tempo_bpm, duration_s, sample_rate, pattern=drum_style,
                         seed=int(rng.integers(2**31)))
    mix = 1.0 * chords.astype(np.float64) + 0.6 * drums.astype(np.float64)
    y = tilt_to_centroid(mix, sample_rate, brightness_hz)
    y *= rms / np.sqrt(np.mean(y ** 2))
    peak = float(np.max(np.abs(y)))
    if peak > 1.0:
        raise ValueError(f"rms {rms} would put the peak at {peak:.2f} > 1.0 (full scale) for this "
                         f"clip (crest factor {peak / rms:.1f}); ask for a lower rms")
    return y.astype(np.float32)


# Minor progressions built only from the relative major's chords (i-VI-III-VII
# is vi-IV-I-V of the relative major): the case a chroma profile alone reads as
# major.  Kept apart from PROGRESSIONS so the emotion clips stay as they were.
SHARED_CHORD_PROGRESSIONS: dict[str, list[tuple[int, str]]] = {
    "i-VI-III-VII": [(0, "min"), (8, "maj"), (3, "maj"), (10, "maj")],
    "i-iv-VII-III": [(0, "min"), (5, "min"), (10, "maj"), (3, "maj")],
}


def _organ_tone(freqs: list[float], n: int, sample_rate: int, attack_s: float = 0.08) -> np.ndarray:
    """Sustained harmonic tones (1/k amplitudes, 8 harmonics) with a soft attack
    and release and no decay: an organ or string pad, which has no percussive
    onset for a beat tracker to lock onto."""
    t = np.arange(n) / sample_rate
    env = np.minimum(1.0, t / attack_s) * np.minimum(1.0, (n - np.arange(n)) / (attack_s * sample_rate))
    y = np.zeros(n)
    for f0 in freqs:
        for k in range(1, 9):
            if k * f0 < sample_rate / 2:
                y += np.sin(2 * np.pi * k * f0 * t) / k
    return y * env


def sustained_piece(tonic: str | int, mode: str, bpm: float, duration_s: float, sample_rate: int, *,
                    progression: str | None = None, melody_steps: tuple[float, ...] = (1.0,),
                    seed: int = 0) -> np.ndarray:
    """A slow-attack pad (chords changing every ``len(chords)``-th beat ... one
    chord a bar of 4 beats) with a bass note on every half bar and a melody of
    chord tones whose note lengths (in beats) cycle through ``melody_steps``;
    no drums.  ``progression`` names an entry of PROGRESSIONS[mode] or
    SHARED_CHORD_PROGRESSIONS.  The tempo's evidence is the melody and bass
    onsets only, as in sustained organ or string music."""
    if mode not in PROGRESSIONS:
        raise ValueError(f"mode must be 'major' or 'minor', got {mode!r}")
    rng = np.random.default_rng(seed)
    tonic_pc = PITCH_CLASSES.index(tonic) if isinstance(tonic, str) else int(tonic) % 12
    name = progression or next(iter(PROGRESSIONS[mode]))
    chords = PROGRESSIONS[mode].get(name) or SHARED_CHORD_PROGRESSIONS[name]
    n = _n_samples(duration_s, sample_rate)
    beat = 60.0 / bpm
    out = np.zeros(n)
    base = 12 * 5 + tonic_pc  # C4-based
    bar = int(round(4 * beat * sample_rate))
    for i, start in enumerate(range(0, n, bar)):
        root, quality = chords[i % len(chords)]
        tones = [base + root + iv for iv in _CHORD_INTERVALS[quality]]
        length = min(bar, n - start)
        _add_at(out, 0.5 * _organ_tone([_note_hz(m) for m in tones], length, sample_rate), start)
        half = bar // 2
        for b in (0, half):
            if start + b < n:
                _add_at(out, 0.8 * _chord_tone([_note_hz(base + root - 24)], min(half, n - start - b), sample_rate),
                        start + b)
        t, j = 0.0, 0
        while t < 4.0:
            step = melody_steps[j % len(melody_steps)]
            pitch = base + 12 + root + _CHORD_INTERVALS[quality][int(rng.integers(3))]
            s0 = start + int(round(t * beat * sample_rate))
            if s0 < n:
                _add_at(out, _chord_tone([_note_hz(pitch)], min(int(step * beat * sample_rate), n - s0),
                                         sample_rate), s0)
            t += step
            j += 1
    return _peak_normalise(out).astype(np.float32)


def _decaying_note(hz: float, n: int, sample_rate: int, decay: float) -> np.ndarray:
    t = np.arange(n) / sample_rate
    return sum(np.sin(2 * np.pi * k * hz * t) / k for k in range(1, 7) if k * hz < sample_rate / 2) * np.exp(-decay * t)


def broken_chords(tonic: str | int, mode: str, notes_per_s: int, duration_s: float, sample_rate: int, *,
                  bass: bool = True) -> np.ndarray:
    """I-IV-V-I (i-iv-v-i in minor), one chord a second, played one note at a time
    (root, third, fifth, third) at ``notes_per_s``, over a bass note on each chord's root:
    fast figuration whose key and mode are those of the chords."""
    pc = PITCH_CLASSES.index(tonic) if isinstance(tonic, str) else int(tonic)
    third = 3 if mode == "minor" else 4
    chords = [(r, r + third, r + 7) for r in (0, 5, 7, 0)]
    n = _n_samples(duration_s, sample_rate)
    out = np.zeros(n)
    step = sample_rate // notes_per_s
    for i, start in enumerate(range(0, n, step)):
        root = chords[(start // sample_rate) % 4]
        length = min(step, n - start)
        out[start:start + length] += _decaying_note(_note_hz(60 + pc + root[(0, 1, 2, 1)[i % 4]]), length,
                                                    sample_rate, 8.0)
    if bass:
        for c, start in enumerate(range(0, n, sample_rate)):
            length = min(sample_rate, n - start)
            out[start:start + length] += 0.6 * _decaying_note(_note_hz(36 + pc + chords[c % 4][0]), length,
                                                              sample_rate, 1.5)
    return _peak_normalise(out).astype(np.float32)


# Audio with no key: what the mode must be "uncertain" on (tonality's gates).
KEYLESS_KINDS = ("white", "pink", "brown", "comb_noise", "band_400_500", "formant_noise", "glide_third",
                 "square_note", "saw_note", "chromatic_walk")


def keyless_audio(kind: str, duration_s: float, sample_rate: int, *, seed: int = 0) -> np.ndarray:
    """A clip with no key, at RMS 0.05: white, pink or brown noise; ``comb_noise`` (noise
    through a feedback comb at 80-300 Hz: one pitch); ``band_400_500`` (band-passed noise);
    ``formant_noise`` (vowel-like resonances that hop every 150 ms); ``glide_third`` (one
    sine from G#3 to C4); ``square_note`` or ``saw_note`` (one note at 100-400 Hz);
    ``chromatic_walk`` (notes in random steps of up to 3 semitones, four a second)."""
    from scipy import signal

    if kind not in KEYLESS_KINDS:
        raise ValueError(f"kind must be one of {KEYLESS_KINDS}, got {kind!r}")
    rng = np.random.default_rng(seed)
    n = _n_samples(duration_s, sample_rate)
    t = np.arange(n) / sample_rate
    x = rng.standard_normal(n)
    if kind == "pink":
        f = np.fft.rfft(x)
        f[1:] /= np.sqrt(np.arange(1, f.size))
        x = np.fft.irfft(f, n)
    elif kind == "brown":
        x = np.cumsum(x)
    elif kind == "comb_noise":
        delay = int(round(sample_rate / rng.uniform(80, 300)))
        feedback = np.zeros(delay + 1)
        feedback[[0, delay]] = 1.0, -0.95
        x = signal.lfilter([1.0], feedback, x)
    elif kind == "band_400_500":
        x = signal.lfilter(*signal.butter(4, [400, 500], btype="band", fs=sample_rate), x)
    elif kind == "formant_noise":
        vowels = ((730, 1090, 2440), (270, 2290, 3010), (300, 870, 2240), (530, 1840, 2480))
        out, seg = np.zeros(n), int(0.15 * sample_rate)
        for start in range(0, n, seg):
            burst = rng.standard_normal(seg + 2000)
            y = sum(signal.lfilter(*signal.iirpeak(f, 8, fs=sample_rate), burst) for f in vowels[rng.integers(4)])
            out[start:start + seg] = y[2000:2000 + min(seg, n - start)]
        x = out
    elif kind == "glide_third":
        x = signal.chirp(t, 200.0, duration_s, 260.0, method="logarithmic")
    elif kind in ("square_note", "saw_note"):
        phase = 2 * np.pi * rng.uniform(100, 400) * t
        x = np.sign(np.sin(phase)) if kind == "square_note" else signal.sawtooth(phase)
    elif kind == "chromatic_walk":
        out, step, midi = np.zeros(n), int(0.25 * sample_rate), 60
        for start in range(0, n, step):
            midi = int(np.clip(midi + rng.integers(-3, 4), 48, 84))
            length = min(step, n - start)
            out[start:start + length] = _decaying_note(_note_hz(midi), length, sample_rate, 6.0)
        x = out
    x = x - x.mean()
    return (0.05 * x / (x.std() + 1e-12)).astype(np.float32)


# Pitched audio with no third on its tonic: a key needs one (tonality.NO_THIRD_BELOW).
THIRDLESS_KINDS = ("sine", "drone", "fifth", "octave_in_noise")


def thirdless_audio(kind: str, pitch_class: int, duration_s: float, sample_rate: int) -> np.ndarray:
    """A clip on ``pitch_class`` (0 = C, A at 110 Hz) with no third: ``sine`` (one sine an
    octave up), ``drone`` (a sawtooth of 19 harmonics), ``fifth`` (two sawtooths a fifth
    apart), ``octave_in_noise`` (two sawtooths an octave apart, white noise at 5 dB SNR)."""
    if kind not in THIRDLESS_KINDS:
        raise ValueError(f"kind must be one of {THIRDLESS_KINDS}, got {kind!r}")
    t = np.arange(_n_samples(duration_s, sample_rate)) / sample_rate
    f0 = 110.0 * 2 ** (pitch_class / 12)

    def saw(f, n):
        return sum(np.sin(2 * np.pi * f * h * t) / h for h in range(1, n))

    if kind == "sine":
        y = 0.1 * np.sin(2 * np.pi * 2 * f0 * t)
    elif kind == "drone":
        y = 0.05 * saw(f0, 20)
    elif kind == "fifth":
        y = 0.03 * (saw(f0, 12) + saw(f0 * 1.4983, 12))
    else:
        y = 0.03 * (saw(f0, 12) + saw(2 * f0, 12))
        noise = np.random.default_rng(pitch_class).standard_normal(y.size)
        y = y + noise / noise.std() * y.std() / 10 ** (5 / 20)
    return y.astype(np.float32)
