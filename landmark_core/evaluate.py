"""Measuring a predictor: accuracy (overall, top-3, per class, confusion), its "unknown" threshold, latency.

Images are decoded exactly as the app decodes them, so a card's numbers are what a user gets.
"""

from __future__ import annotations

import statistics
import time
from pathlib import Path
from typing import Sequence

import torch
from torch import Tensor
from tqdm import tqdm

from landmark_core import images


@torch.inference_mode()
def predict_files(predictor: torch.nn.Module, files: Sequence[Path], desc: str = "evaluate") -> Tensor:
    """(N, C) probabilities, one photo at a time as the app sees them."""
    rows = [
        predictor(images.load_tensor(file, predictor.resize_size)[None])[0]
        for file in tqdm(files, desc=desc, unit="img", leave=False)
    ]
    return torch.stack(rows)


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


def unknown_threshold(probabilities: Tensor, labels: Sequence[int], keep: float = 0.95) -> float:
    """The top-1 probability below which the app says "not one of my landmarks".

    Chosen on validation data so that `keep` of the correctly classified photos stay above it: the app then
    hedges on few real landmarks, while photos unlike any class (low, spread-out probabilities) fall below.
    """
    top = probabilities.max(1)
    correct = top.indices == torch.as_tensor(labels)
    confidences = top.values[correct] if correct.any() else top.values
    return round(torch.quantile(confidences, 1.0 - keep).item(), 4)


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
