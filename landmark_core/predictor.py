"""The shipped artefact: eval preprocessing + model + softmax in one TorchScript module.

Contract: `forward(x)` takes (N,3,H,W), uint8 or float in [0,1], any H and W, and returns (N,C) softmax
probabilities over the C real landmarks in `class_names`. Open set: `known_score(x)` returns (N,) in [0,1], and a
photo is "not one of my landmarks" when it is below `unknown_threshold`; `classify(x)` returns both from one pass
(what the app calls). `resize_size`, `crop_size`, `activation_map` and `crop_box` are kept for the app's heatmap.
`torch.jit.load` alone reloads it, with the same decision as the app.
"""

from __future__ import annotations

import os
from typing import List, Sequence, Tuple

import torch
from torch import Tensor, nn

from landmark_core.data import preprocess
from landmark_core.files import atomic_path
from landmark_core.models import class_activation_map
from landmark_core.openset import FAMILIARITY_MARGIN, answer

CONTRACT = (
    "class_names", "unknown_threshold", "known_score", "classify", "pooled",
    "resize_size", "crop_size", "activation_map", "crop_box",
)
# Kept in every export too, though the app does not need it: teaching a landmark (landmark_core.teaching) builds
# a new predictor on an exported one's backbone. Older files lack it and still serve.
TEACHABLE = ("feature_map",)


class Predictor(nn.Module):
    def __init__(
        self,
        model: nn.Module,
        class_names: Sequence[str],
        *,
        mean: Sequence[float],
        std: Sequence[float],
        resize_size: int,
        crop_size: int,
        unknown_threshold: float = 0.0,
    ):
        """`model` outputs one logit per class name, plus optionally a last "none of these" logit (open-set
        training); `unknown_threshold` is usually set after validation, before export."""
        super().__init__()
        # Channels-last weights make oneDNN run every convolution in NHWC: measured on 2 cores, batch-1
        # latency 9.7 -> 8.4 ms (transfer) and batch-32 throughput up 1.2-1.7x, same probabilities to 1e-6.
        self.model = model.eval().to(memory_format=torch.channels_last)
        self.class_names: List[str] = list(class_names)
        self.unknown_threshold = float(unknown_threshold)
        self.resize_size = resize_size
        self.crop_size = crop_size
        self.register_buffer("mean", torch.tensor(list(mean), dtype=torch.float32))
        self.register_buffer("std", torch.tensor(list(std), dtype=torch.float32))
        # Familiarity (see openset): set by `calibrate_familiarity`; empty prototypes leave it out.
        self.register_buffer("prototypes", torch.zeros(0))
        self.familiarity_floor = 0.0
        self.familiarity_margin = FAMILIARITY_MARGIN

    def forward(self, x: Tensor) -> Tensor:
        return self.classify(x)[0]

    @torch.jit.export
    def feature_map(self, crops: Tensor) -> Tensor:
        """(N,D,h,w) the network's last feature map of crops already preprocessed (resized, cropped, normalized)."""
        return self.model.features(crops)

    @torch.jit.export
    def pooled(self, x: Tensor) -> Tensor:
        """(N,D) globally pooled features: what the classifier reads."""
        return self.feature_map(preprocess(x, self.resize_size, self.crop_size, self.mean, self.std)).mean((2, 3))

    @torch.jit.export
    def classify(self, x: Tensor) -> Tuple[Tensor, Tensor]:
        """(probabilities over the landmarks (N,C), known score (N,)) from one pass of the network."""
        features = self.pooled(x)
        logits = self.model.classifier(features)  # the model's dropout is the identity in eval mode
        return answer(logits, features, len(self.class_names), self.prototypes, self.familiarity_floor, self.familiarity_margin)

    @torch.jit.export
    def known_score(self, x: Tensor) -> Tensor:
        """(N,) in [0,1]: how much the photo looks like any of the landmarks at all (see landmark_core.openset)."""
        return self.classify(x)[1]

    @torch.jit.export
    def activation_map(self, x: Tensor, class_index: int) -> Tensor:
        """(N,h,w) in [0,1] over the centre crop that `forward` sees: where `class_index` was found."""
        with torch.no_grad():
            features = self.feature_map(preprocess(x, self.resize_size, self.crop_size, self.mean, self.std))
            return class_activation_map(features, self.model.classifier.weight, class_index)

    @torch.jit.export
    def crop_box(self, height: int, width: int) -> List[int]:
        """(top, left, height, width) in input pixels of the centre crop that `forward` classifies."""
        side = int(min(height, width) * self.crop_size / self.resize_size + 0.5)
        side = min(side, height, width)
        return [(height - side) // 2, (width - side) // 2, side, side]


def script_predictor(predictor: Predictor) -> torch.jit.ScriptModule:
    """Script and freeze: the module `torch.jit.load` gives back from an exported file.

    Freezing folds BatchNorm into the convolutions and inlines the weights as constants: a further 1.1-1.5x
    on batches of 32 (measured on 2 cores against the channels-last module). It drops every attribute not named
    in CONTRACT or TEACHABLE.
    """
    return torch.jit.freeze(torch.jit.script(predictor.eval()), preserved_attrs=list(CONTRACT + TEACHABLE))


def save_scripted(scripted: torch.jit.ScriptModule, path: str | os.PathLike) -> None:
    """Save atomically, so an interrupted save never leaves a truncated .pt."""
    with atomic_path(path) as temporary:
        torch.jit.save(scripted, str(temporary))


def export_predictor(predictor: Predictor, path: str | os.PathLike) -> torch.jit.ScriptModule:
    """Script, freeze and save atomically (see script_predictor)."""
    scripted = script_predictor(predictor)
    save_scripted(scripted, path)
    return scripted
