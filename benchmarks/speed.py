"""Speed of the shipped predictors: latency of one photo (decode + preprocess + forward) and batch throughput,
with this process's torch threads and with one thread (as each of the app's predictions runs)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Sequence

import torch
from torch import Tensor

from benchmarks.modes import Mode
from benchmarks.measuring import attempt
from benchmarks.shipped import MODELS, load_predictor
from landmark_core import data, evaluate, images

BATCH = 32


def uniform_batch(files: Sequence[Path], side: int) -> Tensor:
    """BATCH photos (cycled if fewer) decoded, short side at `side`, centre-cropped square: uint8 (BATCH,3,side,side)."""
    tensors = []
    for index in range(BATCH):
        image = data.resize_short_side(images.load_tensor(files[index % len(files)], side), side)
        top, left = (image.shape[1] - side) // 2, (image.shape[2] - side) // 2
        tensors.append(image[:, top : top + side, left : left + side])
    return torch.stack(tensors)


@torch.inference_mode()
def throughput(predictor: torch.nn.Module, batch: Tensor, batches: int) -> float:
    """Images per second through preprocess + forward for uint8 batches of BATCH."""
    for _ in range(2):
        predictor(batch)
    started = time.perf_counter()
    for _ in range(batches):
        predictor(batch)
    return round(batches * len(batch) / (time.perf_counter() - started), 1)


def speed(predictor: torch.nn.Module, files: Sequence[Path], mode: Mode) -> dict:
    """Latency of one real JPEG and batch throughput, with this process's threads and with one thread."""
    batch = uniform_batch(files, predictor.resize_size)
    default_threads = torch.get_num_threads()
    results = {"photo": files[0].name, "batch_size": BATCH, "batch_input": f"uint8 {tuple(batch.shape)}"}
    for label, threads in (("threads_default", default_threads), ("threads_1", 1)):
        torch.set_num_threads(threads)
        try:
            results[label] = {
                "torch_threads": threads,
                "latency_ms": evaluate.latency_ms(predictor, files[0], repeats=mode.latency_repeats),
                "images_per_second": throughput(predictor, batch, mode.throughput_batches),
            }
        finally:
            torch.set_num_threads(default_threads)
    return results


def shipped_speed(models_dir: Path, test_dir: Path, mode: Mode) -> dict:
    files = data.find_images(test_dir.parent, test_dir.name).files

    def model_speed(name: str) -> dict:
        return speed(load_predictor(models_dir, name), files, mode)

    return {name: attempt(f"{name}: latency and throughput", model_speed, name) for name in MODELS}
