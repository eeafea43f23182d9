"""The planted model's audio, read from its residual stream.

Steering can only be checked against a known answer if the planted model's
music follows its activations, not the prompt's label. So the planted model
reads what each planted layer writes into the residual stream (the layer's
output minus its input, as every hook on the layer leaves them), averaged over
generation steps, conditional rows minus unconditional ones (what the prompt
contributes, planted offset and any steering vector included). It projects
that on the emotion's planted unit direction at the layer, divides by the
planted size and averages over the planted layers: a weight of about 1 for
the prompt's own emotion, about 0 for the others. Tempo, brightness and energy
are the neutral values moved by each weight towards that emotion's values;
the mode is that of the emotion whose weight is largest, when it exceeds one
half, else the neutral mode.

So adding a vector along ``u_happy - u_sad`` at a planted layer makes the
music faster, brighter, louder and major; a vector orthogonal to the planted
directions leaves it alone; a vector at an unplanted layer is no part of what
any planted layer writes (it flows through them in the residual stream, and
cancels in output minus input), so it changes the music only through the
tokens, as a random direction does.
"""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np

from ..capture import LayerHooks

# What the synthesiser can render: tempo a beat tracker follows, a centroid a
# spectral tilt reaches, a level whose peaks stay below full scale.
TARGET_LIMITS = {"tempo_bpm": (50.0, 190.0), "brightness_hz": (500.0, 4000.0), "rms": (0.02, 0.10)}
MODE_THRESHOLD = 0.5


class ResidualReadout(LayerHooks):
    """Accumulates, per layer, the mean over steps of what the layer writes (output minus input),
    conditional rows minus unconditional ones.

    Entered after the planter and any steering hook, so it sees the layer's
    input and output as the network does.
    """

    def __init__(self, lm, layers: Sequence[int]):
        super().__init__(lm)
        self.layers = tuple(layers)
        self.sums: dict[int, object] = {}
        self.steps = {layer: 0 for layer in layers}
        self._inputs: dict[int, object] = {}

    def hooks(self):
        for layer in self.layers:
            yield layer, "pre", self._keep_input(layer)
            yield layer, "post", self._accumulate(layer)

    def _keep_input(self, layer: int):
        def hook(_module, inputs):
            self._inputs[layer] = inputs[0].detach()
        return hook

    def _accumulate(self, layer: int):
        def hook(_module, _inputs, output):
            written = (output.detach() - self._inputs.pop(layer)).float()
            rows = written.shape[0]
            half = rows // 2
            contribution = written[:half] - written[half:] if rows % 2 == 0 and half else written
            total = contribution.sum(dim=1)
            self.sums[layer] = total if layer not in self.sums else self.sums[layer] + total
            self.steps[layer] += written.shape[1]
        return hook

    def result(self) -> dict[int, np.ndarray]:
        """layer -> [B, D], the mean over steps of what the prompt makes the layer write."""
        return {layer: (total / max(self.steps[layer], 1)).cpu().numpy().astype(np.float64)
                for layer, total in self.sums.items()}


def emotion_weights(written: Mapping[int, np.ndarray], directions: Mapping[int, Mapping[str, np.ndarray]],
                    size: float) -> list[dict[str, float]]:
    """Per row, the projection on each emotion's planted unit direction over the planted size,
    averaged over the planted layers."""
    layers = sorted(written)
    n_rows = len(written[layers[0]])
    return [{e: float(np.mean([written[layer][row] @ directions[layer][e] for layer in layers])) / size
             for e in directions[layers[0]]} for row in range(n_rows)]


def target_acoustics(weights: Mapping[str, float], emotion_acoustics: Mapping[str, Mapping],
                     neutral: Mapping) -> dict:
    """The acoustics a row's emotion weights ask for (clipped to what can be rendered)."""
    target = dict(neutral)
    for feature in ("tempo_bpm", "brightness_hz", "rms"):
        value = neutral[feature] + sum(w * (emotion_acoustics[e][feature] - neutral[feature])
                                       for e, w in weights.items() if e in emotion_acoustics)
        low, high = TARGET_LIMITS[feature]
        target[feature] = float(np.clip(value, low, high))
    known = {e: w for e, w in weights.items() if e in emotion_acoustics}
    if known:
        strongest = max(known, key=known.get)
        if known[strongest] > MODE_THRESHOLD:
            target["mode"] = emotion_acoustics[strongest]["mode"]
    return target
