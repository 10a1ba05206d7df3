"""Measuring a predictor: accuracy (overall, top-3, per class, confusion) and latency (open set: openset.py).

Images are decoded exactly as the app decodes them, so a card's numbers are what a user gets.
"""

from __future__ import annotations

import statistics
import time
from pathlib import Path
from typing import Iterable, Sequence

import torch
from torch import Tensor
from tqdm import tqdm

from landmark_core import images


@torch.inference_mode()
def predict_files(predictor: torch.nn.Module, files: Sequence[Path], desc: str = "evaluate") -> tuple[Tensor, Tensor]:
    """(N, C) probabilities and (N,) known scores, one photo at a time as the app sees them."""
    return predict_images(predictor, (images.load_tensor(file, predictor.resize_size) for file in files), len(files), desc)


@torch.inference_mode()
def predict_images(predictor: torch.nn.Module, tensors: Iterable[Tensor], total: int | None = None, desc: str = "evaluate") -> tuple[Tensor, Tensor]:
    """`predict_files` for images already decoded to uint8 (3,H,W) tensors."""
    rows = [predictor.classify(tensor[None]) for tensor in tqdm(tensors, desc=desc, total=total, unit="img", leave=False)]
    if not rows:
        return torch.zeros(0, len(predictor.class_names)), torch.zeros(0)
    return torch.cat([row[0] for row in rows]), torch.cat([row[1] for row in rows])


def accuracy_report(probabilities: Tensor, labels: Sequence[int], class_names: Sequence[str]) -> dict:
    targets = torch.as_tensor(labels)
    top3 = probabilities.topk(min(3, probabilities.shape[1]), dim=1).indices
    predicted = top3[:, 0]
    confusion = torch.zeros(len(class_names), len(class_names), dtype=torch.long)
    confusion.index_put_((targets, predicted), torch.ones_like(targets), accumulate=True)
    per_class = {
        name: round((confusion[i, i] / confusion[i].sum()).item(), 4)
        for i, name in enumerate(class_names)
        if confusion[i].sum() > 0
    }
    return {
        "accuracy": round((predicted == targets).float().mean().item(), 4),
        "top3_accuracy": round((top3 == targets[:, None]).any(1).float().mean().item(), 4),
        "per_class_accuracy": per_class,
        "confusion_matrix": confusion.tolist(),
    }


@torch.inference_mode()
def latency_ms(predictor: torch.nn.Module, file: Path, repeats: int = 30, warmup: int = 5) -> dict[str, float]:
    """p50/p95 milliseconds for one photo: decode + preprocess + forward + softmax."""
    timings = []
    for run in range(warmup + repeats):
        started = time.perf_counter()
        predictor(images.load_tensor(file, predictor.resize_size)[None])
        if run >= warmup:
            timings.append((time.perf_counter() - started) * 1000)
    return percentiles(timings)


def percentiles(milliseconds: Sequence[float]) -> dict[str, float]:
    """p50 (median) and p95 (nearest rank below), rounded to 0.01 ms."""
    ordered = sorted(milliseconds)
    return {"p50": round(statistics.median(ordered), 2), "p95": round(ordered[int(0.95 * (len(ordered) - 1))], 2)}
