"""Accuracy of the shipped predictors on the test photos and on the official Udacity sample photos (only the
photos of classes a model knows; the others are counted as skipped), one photo at a time as the app sees it."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import torch

from benchmarks.measuring import attempt
from benchmarks.shipped import MODELS, load_predictor
from landmark_core import data, evaluate
from landmark_core.places import display_name


def labelled_photos(split_dir: Path, class_names: Sequence[str]) -> tuple[list[Path], list[int], dict[str, int]]:
    """The photos under `split_dir/<NN.Class_Name>/` whose class the model knows, their label indices, and
    {class: photos} for the classes it does not know (skipped)."""
    files: list[Path] = []
    labels: list[int] = []
    skipped: dict[str, int] = {}
    for class_dir in sorted(entry for entry in split_dir.iterdir() if entry.is_dir() and not entry.name.startswith(".")):
        photos = [path for path in sorted(class_dir.iterdir()) if path.suffix.lower() in data.IMAGE_SUFFIXES]
        name = display_name(class_dir.name)
        if name in class_names:
            files += photos
            labels += [list(class_names).index(name)] * len(photos)
        else:
            skipped[name] = len(photos)
    return files, labels, skipped


def accuracy_on(predictor: torch.nn.Module, files: Sequence[Path], labels: Sequence[int], desc: str) -> dict:
    """landmark_core.evaluate's report (top-1, top-3, per class, confusion), one photo at a time as the app sees it."""
    probabilities, _known_scores = evaluate.predict_files(predictor, files, desc)
    return {"n": len(files), **evaluate.accuracy_report(probabilities, labels, list(predictor.class_names))}


def folder_accuracy(predictor: torch.nn.Module, split_dir: Path, desc: str) -> dict:
    files, labels, skipped = labelled_photos(split_dir, list(predictor.class_names))
    result = {"folder": str(split_dir), "n_skipped": sum(skipped.values()), "skipped_classes": skipped}
    if not files:
        return {**result, "n": 0, "accuracy": None, "top3_accuracy": None, "per_class_accuracy": {}}
    return {**result, **accuracy_on(predictor, files, labels, desc)}


def shipped_accuracy(models_dir: Path, test_dir: Path, udacity_dir: Path) -> dict:
    def both_folders(name: str) -> dict:
        predictor = load_predictor(models_dir, name)
        return {
            folder_name: attempt(f"{name}: accuracy on {folder}", folder_accuracy, predictor, folder, f"{name} {folder_name}")
            for folder_name, folder in (("test", test_dir), ("udacity_samples", udacity_dir))
        }

    return {name: attempt(f"{name}: load", both_folders, name) for name in MODELS}
