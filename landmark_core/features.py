"""Frozen-backbone features, computed once and cached, so a transfer head trains in seconds on a CPU.

Each training photo contributes several augmented views (random crops, flips, colour jitter) plus its
plain centre view: the head then learns the invariances that fine-tuning would teach, at the cost of a
few backbone passes per photo instead of one per photo per epoch.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable, Sequence

import torch
from torch import Tensor, nn
from tqdm import tqdm

from landmark_core.files import atomic_path


class _PooledFeatures(nn.Module):
    def __init__(self, backbone: nn.Module):
        super().__init__()
        self.backbone = backbone

    def forward(self, x: Tensor) -> Tensor:
        return self.backbone.forward_features(x).mean((2, 3))


def frozen_extractor(backbone: nn.Module) -> torch.jit.ScriptModule:
    """The backbone's pooled features as a frozen TorchScript module in channels-last: BatchNorm folded into the
    convolutions. Lite0, batch 32 at 224 px on 2 cores: 0.72 s against 1.1 s eager."""
    module = _PooledFeatures(backbone).eval().to(memory_format=torch.channels_last)
    return torch.jit.freeze(torch.jit.script(module))


@torch.inference_mode()
def pooled_features(
    extractor: nn.Module, images: Sequence[Tensor], transform: Callable[[Tensor], Tensor], batch_size: int = 32, desc: str = "features"
) -> Tensor:
    """(N, D) `extractor(transform(image))` for each uint8 image, in batches."""
    rows = []
    for start in tqdm(range(0, len(images), batch_size), desc=desc, unit="batch", leave=False):
        batch = torch.stack([transform(image) for image in images[start : start + batch_size]])
        rows.append(extractor(batch.contiguous(memory_format=torch.channels_last)))
    return torch.cat(rows)


def augmented_features(
    backbone: nn.Module,
    images: Sequence[Tensor],
    labels: Sequence[int],
    plain: Callable[[Tensor], Tensor],
    augment: Callable[[Tensor], Tensor],
    views: int,
    seed: int,
    cache_file: str | os.PathLike | None = None,
) -> tuple[Tensor, Tensor]:
    """Features of the plain view and `views` augmented views of every image, with repeated labels.

    Cached in `cache_file` (the caller keys its name by the images and settings).
    """
    if cache_file is not None and Path(cache_file).is_file():
        cached = torch.load(cache_file)
        return cached["features"], cached["labels"]
    torch.manual_seed(seed)
    extractor = frozen_extractor(backbone)
    blocks = [pooled_features(extractor, images, plain, desc="features (plain view)")]
    for view in range(views):
        blocks.append(pooled_features(extractor, images, augment, desc=f"features (view {view + 1}/{views})"))
    features = torch.cat(blocks)
    repeated = torch.as_tensor(list(labels)).repeat(views + 1)
    if cache_file is not None:
        with atomic_path(cache_file) as temporary:
            torch.save({"features": features, "labels": repeated}, temporary)
    return features, repeated
