"""The shipped artefact: eval preprocessing + model + softmax in one TorchScript module.

Contract: `forward(x)` takes (N,3,H,W), uint8 or float in [0,1], any H and W, and returns (N,C) softmax
probabilities; `class_names` lists the C display names; `resize_size`, `crop_size`, `activation_map` and
`crop_box` (the CONTRACT) are kept for the app's heatmap. `torch.jit.load` alone reloads it.
"""

from __future__ import annotations

import os
from typing import List, Sequence

import torch
from torch import Tensor, nn

from landmark_core.data import preprocess
from landmark_core.files import atomic_path
from landmark_core.models import class_activation_map

CONTRACT = ("class_names", "resize_size", "crop_size", "activation_map", "crop_box")


class Predictor(nn.Module):
    def __init__(
        self,
        model: nn.Module,
        class_names: Sequence[str],
        mean: Sequence[float],
        std: Sequence[float],
        resize_size: int,
        crop_size: int,
    ):
        super().__init__()
        # Channels-last weights make oneDNN run every convolution in NHWC: measured on 2 cores, batch-1
        # latency 9.7 -> 8.4 ms (transfer) and batch-32 throughput up 1.2-1.7x, same probabilities to 1e-6.
        self.model = model.eval().to(memory_format=torch.channels_last)
        self.class_names: List[str] = list(class_names)
        self.resize_size = resize_size
        self.crop_size = crop_size
        self.register_buffer("mean", torch.tensor(list(mean), dtype=torch.float32))
        self.register_buffer("std", torch.tensor(list(std), dtype=torch.float32))

    def forward(self, x: Tensor) -> Tensor:
        x = preprocess(x, self.resize_size, self.crop_size, self.mean, self.std)
        return torch.softmax(self.model(x), dim=1)

    @torch.jit.export
    def activation_map(self, x: Tensor, class_index: int) -> Tensor:
        """(N,h,w) in [0,1] over the centre crop that `forward` sees: where `class_index` was found."""
        with torch.no_grad():
            features = self.model.features(preprocess(x, self.resize_size, self.crop_size, self.mean, self.std))
            return class_activation_map(features, self.model.classifier.weight, class_index)

    @torch.jit.export
    def crop_box(self, height: int, width: int) -> List[int]:
        """(top, left, height, width) in input pixels of the centre crop that `forward` classifies."""
        side = int(min(height, width) * self.crop_size / self.resize_size + 0.5)
        side = min(side, height, width)
        return [(height - side) // 2, (width - side) // 2, side, side]


def export_predictor(predictor: Predictor, path: str | os.PathLike) -> torch.jit.ScriptModule:
    """Script, freeze and save atomically, so an interrupted export never leaves a truncated .pt.

    Freezing folds BatchNorm into the convolutions and inlines the weights as constants: a further 1.1-1.5x
    on batches of 32 (measured on 2 cores against the channels-last module). It drops every attribute not named
    in CONTRACT.
    """
    scripted = torch.jit.freeze(torch.jit.script(predictor.eval()), preserved_attrs=list(CONTRACT))
    with atomic_path(path) as temporary:
        torch.jit.save(scripted, str(temporary))
    return scripted
