"""Tiny random-weight models with the shipped predictor contract and a model card like the real one, written per
test: what the app, tagging, teaching and benchmark tests load instead of the shipped models."""

from __future__ import annotations

import json
from pathlib import Path

import torch

from conftest import synthetic_photo
from landmark_core import images, teaching
from landmark_core.models import ScratchCNN
from landmark_core.predictor import Predictor, export_predictor

CLASSES = ["Eiffel Tower", "Taj Mahal", "Stonehenge", "Machu Picchu"]


def write_model(folder: Path, name: str, classes=CLASSES, threshold: float = 0.0, seed: int = 0) -> Path:
    """A small random-weight predictor with the shipped contract, plus a model card like the real one."""
    torch.manual_seed(seed)
    network = ScratchCNN(len(classes), widths=(8, 8, 16, 16, 16))
    predictor = Predictor(
        network, classes, mean=[0.5, 0.45, 0.4], std=[0.25, 0.25, 0.25], resize_size=73, crop_size=64, unknown_threshold=threshold
    )
    export_predictor(predictor, folder / f"{name}.pt")
    card = {
        "name": name,
        "kind": name,
        "architecture": "ScratchCNN (test fixture)" if name == "scratch" else "efficientnet_lite0 (test fixture)",
        "classes": list(classes),
        "test_accuracy": 0.5 if name == "scratch" else 0.9,
        "top3_accuracy": 0.8,
        "per_class_accuracy": {label: 0.5 for label in classes},
        "unknown_threshold": threshold,
        "n_train": 10,
        "n_valid": 2,
        "n_test": 4,
        "trained_on": "random weights made by a test fixture",
        "epochs": 0,
        "seed": seed,
        "command": f"python train_{name}.py --epochs 1",
        "train_seconds": 0.0,
        "latency_ms_p50": 1.0,
        "latency_ms_p95": 2.0,
        "latency_measured_as": "not measured",
        "params": 1,
        "file_bytes": (folder / f"{name}.pt").stat().st_size,
        "created": "2026-01-01T00:00:00+00:00",
    }
    (folder / f"{name}.json").write_text(json.dumps(card), encoding="utf-8")
    return folder / f"{name}.pt"


def write_teaching_features(model_path: Path, photos_per_class: int = 30) -> Path:
    """The features file train_transfer.py writes beside transfer.pt, made from synthetic photos (classes 0-3
    as the landmarks, 8 and 9 as "none of these") with the fixture model's own backbone."""
    predictor = torch.jit.load(str(model_path))
    known = len(predictor.class_names)

    def rows(labels: list[int], seed: int) -> tuple[torch.Tensor, torch.Tensor]:
        photos = [images.to_uint8_tensor(synthetic_photo(label, seed=seed + i, size=(96, 80))) for label in labels for i in range(photos_per_class)]
        with torch.inference_mode():
            features = torch.cat([predictor.pooled(photo[None]) for photo in photos])
        return features, torch.tensor([min(label, known) for label in labels for _ in range(photos_per_class)])

    train_features, train_labels = rows([*range(known), 8, 9], seed=500)
    valid_features, valid_labels = rows([*range(known), 8], seed=900)
    card = json.loads(model_path.with_suffix(".json").read_text())
    path = teaching.features_path(model_path)
    teaching.save_training_features(
        path,
        teaching.TrainingFeatures(
            class_names=card["classes"], train_features=train_features, train_labels=train_labels, plain_rows=len(train_labels),
            valid_features=valid_features, valid_labels=valid_labels, accept=0.95, mean=[0.5, 0.45, 0.4], std=[0.25, 0.25, 0.25],
        ),
    )
    return path


def make_model_dir(folder: Path, threshold: float = 0.0) -> Path:
    """Both slots filled (the transfer slot by a second small model with the same contract), and the features
    teaching needs beside the transfer model."""
    folder.mkdir(parents=True, exist_ok=True)
    write_model(folder, "scratch", threshold=threshold, seed=0)
    write_teaching_features(write_model(folder, "transfer", threshold=threshold, seed=1))
    return folder
