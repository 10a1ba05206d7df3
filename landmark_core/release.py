"""A trained model -> what ships: the TorchScript predictor, its model card and its plots.

The test numbers in the card are measured on the exported file reloaded from disk, decoded as the app
decodes, so the card always agrees with a fresh evaluation of the shipped .pt.
"""

from __future__ import annotations

import datetime
import platform
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import torch
from torch import Tensor, nn

from landmark_core import evaluate, plots
from landmark_core.data import PreparedData
from landmark_core.files import write_json
from landmark_core.models import count_parameters
from landmark_core.places import display_name
from landmark_core.predictor import Predictor, export_predictor


@dataclass(frozen=True)
class TrainingFacts:
    """How the model was made: everything a reader needs to rebuild it."""

    name: str
    kind: str  # "scratch" or "transfer"
    architecture: str
    command: str
    seed: int
    epochs_run: int
    train_seconds: float
    history: Sequence[dict]
    extra: dict


def _valid_probabilities(predictor: Predictor, valid_images: Sequence[Tensor]) -> Tensor:
    with torch.inference_mode():
        return torch.cat([predictor(image[None]) for image in valid_images])


def release(
    model: nn.Module,
    facts: TrainingFacts,
    prepared: PreparedData,
    normalization: tuple[Sequence[float], Sequence[float]],
    resize_size: int,
    crop_size: int,
    out_dir: str | Path,
) -> dict:
    """Export `model`, evaluate the exported file on `test`, draw the plots and write the card; return it."""
    out_dir = Path(out_dir)
    train, test = prepared.train, prepared.test
    class_names = [display_name(folder) for folder in train.class_folders]
    predictor = Predictor(model.eval(), class_names, *normalization, resize_size, crop_size)
    threshold = evaluate.unknown_threshold(_valid_probabilities(predictor, prepared.valid_images), prepared.valid_labels)

    model_path = out_dir / f"{facts.name}.pt"
    export_predictor(predictor, model_path)
    shipped = torch.jit.load(str(model_path))
    report = evaluate.accuracy_report(evaluate.predict_files(shipped, test.files, "test"), test.labels, class_names)
    latency = evaluate.latency_ms(shipped, test.files[0])

    title = f"{facts.name} ({facts.architecture})"
    plots.save(plots.training_curves(facts.history, title), out_dir / f"{facts.name}_curves.png")
    plots.save(
        plots.confusion_matrix(report["confusion_matrix"], class_names, f"{title}: test accuracy {report['accuracy']:.1%}"),
        out_dir / f"{facts.name}_confusion.png",
    )
    data_root = train.root.resolve()
    card = {
        "name": facts.name,
        "kind": facts.kind,
        "architecture": facts.architecture,
        "classes": class_names,
        "test_accuracy": report["accuracy"],
        "top3_accuracy": report["top3_accuracy"],
        "per_class_accuracy": report["per_class_accuracy"],
        "confusion_matrix": report["confusion_matrix"],
        "unknown_threshold": threshold,
        "n_train": len(prepared.train_images),
        "n_valid": len(prepared.valid_images),
        "n_test": len(test),
        "data_root": str(data_root),
        "trained_on": (
            f"{len(class_names)} of the 50 Udacity landmark classes, photos under {data_root}: "
            f"{len(prepared.train_images)} train + {len(prepared.valid_images)} validation photos carved (stratified, seed {facts.seed}) "
            f"out of train/; tested on all {len(test)} photos of test/."
        ),
        "image_size": crop_size,
        "resize_size": resize_size,
        "normalization": {"mean": list(normalization[0]), "std": list(normalization[1])},
        "epochs": facts.epochs_run,
        "seed": facts.seed,
        "command": facts.command,
        "train_seconds": round(facts.train_seconds, 1),
        "latency_ms_p50": latency["p50"],
        "latency_ms_p95": latency["p95"],
        "latency_measured_as": f"decode + predict one {test.files[0].name}, batch 1, {torch.get_num_threads()} torch threads, {platform.processor() or platform.machine()}",
        "params": count_parameters(model),
        "file_bytes": model_path.stat().st_size,
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "torch_version": torch.__version__,
        **facts.extra,
    }
    write_json(out_dir / f"{facts.name}.json", card)
    print(f"test accuracy {card['test_accuracy']:.2%} (top-3 {card['top3_accuracy']:.2%}) -> {model_path}")
    return card
