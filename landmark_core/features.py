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


@torch.inference_mode()
def pooled_features(
    backbone: nn.Module, images: Sequence[Tensor], transform: Callable[[Tensor], Tensor], batch_size: int = 32, desc: str = "features"
) -> Tensor:
    """(N, D) globally pooled feature maps of `transform(image)` for each uint8 image."""
    backbone.eval()
    rows = []
    for start in tqdm(range(0, len(images), batch_size), desc=desc, unit="batch", leave=False):
        batch = torch.stack([transform(image) for image in images[start : start + batch_size]])
        rows.append(backbone.forward_features(batch.contiguous(memory_format=torch.channels_last)).mean((2, 3)))
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
    blocks = [pooled_features(backbone, images, plain, desc="features (plain view)")]
    for view in range(views):
        blocks.append(pooled_features(backbone, images, augment, desc=f"features (view {view + 1}/{views})"))
    features = torch.cat(blocks)
    repeated = torch.as_tensor(list(labels)).repeat(views + 1)
    if cache_file is not None:
        with atomic_path(cache_file) as temporary:
            torch.save({"features": features, "labels": repeated}, temporary)
    return features, repeated
