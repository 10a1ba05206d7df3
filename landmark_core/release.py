"""A trained model -> what ships: the TorchScript predictor, its model card and its plots.

The test numbers in the card are measured on the exported file reloaded from disk, decoded as the app
decodes, so the card always agrees with a fresh evaluation of the shipped .pt. The unknown threshold is chosen
on validation photos only; the open-set figures are measured on landmarks the model never saw.
"""

from __future__ import annotations

import datetime
import platform
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import torch
from torch import Tensor, nn
from tqdm import tqdm

from landmark_core import evaluate, openset, plots
from landmark_core.data import PreparedData
from landmark_core.everyday import everyday_photos
from landmark_core.files import write_json
from landmark_core.models import count_parameters
from landmark_core.negatives import UDACITY_SAMPLES_DIR, Negatives, landmark_files, unknown_class_files
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


@torch.inference_mode()
def _pooled(predictor: Predictor, decoded: Sequence[Tensor], desc: str) -> Tensor:
    return torch.cat([predictor.pooled(image[None]) for image in tqdm(decoded, desc=desc, unit="img", leave=False)])


def calibrate_open_set(predictor: Predictor, prepared: PreparedData, accept: float) -> None:
    """Set the predictor's prototypes (known training photos), familiarity floor and unknown threshold (known
    validation photos, keeping `accept` of them): no test photo and no negative is looked at."""
    train_labels = torch.as_tensor(prepared.train_labels)
    predictor.prototypes = openset.class_prototypes(
        _pooled(predictor, prepared.train_images, "prototypes"), train_labels, len(predictor.class_names)
    )
    predictor.familiarity_floor = openset.familiarity_floor(_pooled(predictor, prepared.valid_images, "familiarity"), predictor.prototypes)
    valid_scores = evaluate.predict_images(predictor, prepared.valid_images, len(prepared.valid_images), "threshold")[1]
    predictor.unknown_threshold = openset.threshold_at(valid_scores, accept)


def open_set_figures(
    shipped: torch.jit.ScriptModule, test_scores: Tensor, test_correct: Tensor, negatives: Sequence[Negatives]
) -> dict:
    """The shipped rule measured on unknown photos of each kind, separately, against the known test photos."""
    class_names = list(shipped.class_names)
    groups: dict[str, Sequence] = {}
    for source in negatives:
        groups[f"held-out {source.kind}"] = source.test_files
        # Validation landmarks chose nothing but the epoch: shown apart (none when the model trained on them all).
        groups[f"validation {source.kind}"] = landmark_files(source.root, source.split.valid)
    groups["official unknown samples"] = unknown_class_files(UDACITY_SAMPLES_DIR / "test", class_names)
    groups["everyday photos"] = [image for _, image in everyday_photos()]
    unknown = {name: evaluate.predict_files(shipped, items, name)[1] for name, items in groups.items() if items}
    report = openset.open_set_report(test_scores, test_correct, unknown, shipped.unknown_threshold)
    report["official_unknown_files"] = [f"{file.parent.name}/{file.name}" for file in groups["official unknown samples"]]
    report["everyday_photos"] = [name for name, _ in everyday_photos()]
    report.update({_split_key(source): vars(source.split) for source in negatives})
    return report


def _split_key(source: Negatives) -> str:
    """The card key of a source's split: "landmark_split" for the other landmarks (what benchmarks read)."""
    return "landmark_split" if source.kind == "landmarks" else f"split: held-out {source.kind}"


def negatives_sentence(negatives: Sequence[Negatives]) -> str:
    """What the card says about the unknown photos: which trained, which validated, which were never seen."""
    if not negatives:
        return "No photos of other landmarks were available: the unknown rule is the plain top probability."
    sentences = []
    for source in negatives:
        split = source.split
        validation = f"; {len(source.valid_images)} photos of {', '.join(split.valid)} for validation" if split.valid else ""
        held_out = (
            f"never seen, the open-set test \"held-out {source.kind}\": {', '.join(split.test)} ({len(source.test_files)} photos)"
            if split.test else "none held out (benchmarks/crossvalidation.py measures the recipe on folds of them)"
        )
        sentences.append(
            f"{len(source.train_images)} photos of {len(split.train)} folders under {source.root.resolve()} "
            f"({', '.join(split.train)}){validation}; {held_out}"
        )
    return "As \"none of these\": " + ". ".join(sentences) + "."


def release(
    model: nn.Module,
    facts: TrainingFacts,
    prepared: PreparedData,
    negatives: Sequence[Negatives],
    normalization: tuple[Sequence[float], Sequence[float]],
    resize_size: int,
    crop_size: int,
    accept: float,
    out_dir: str | Path,
) -> dict:
    """Export `model`, evaluate the exported file on `test` and on unknown photos, draw the plots and write the
    card; return it. The unknown threshold keeps `accept` of the known validation photos."""
    out_dir = Path(out_dir)
    train, test = prepared.train, prepared.test
    class_names = [display_name(folder) for folder in train.class_folders]
    mean, std = normalization
    predictor = Predictor(model.eval(), class_names, mean=mean, std=std, resize_size=resize_size, crop_size=crop_size)
    calibrate_open_set(predictor, prepared, accept)

    model_path = out_dir / f"{facts.name}.pt"
    export_predictor(predictor, model_path)
    shipped = torch.jit.load(str(model_path))
    test_probabilities, test_scores = evaluate.predict_files(shipped, test.files, "test")
    report = evaluate.accuracy_report(test_probabilities, test.labels, class_names)
    test_correct = test_probabilities.argmax(1) == torch.as_tensor(test.labels)
    open_set = open_set_figures(shipped, test_scores, test_correct, negatives)
    open_set["operating_point"] = f"accept {accept:.0%} of the known validation photos"
    open_set["familiarity"] = {
        "floor": predictor.familiarity_floor, "margin": predictor.familiarity_margin, "quantile": openset.FAMILIARITY_QUANTILE,
    }
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
        "unknown_threshold": shipped.unknown_threshold,
        "open_set": open_set,
        "n_train": len(prepared.train_images),
        "n_valid": len(prepared.valid_images),
        "n_test": len(test),
        "data_root": str(data_root),
        "trained_on": (
            f"{len(class_names)} of the 50 Udacity landmark classes, photos under {data_root}: "
            f"{len(prepared.train_images)} train + {len(prepared.valid_images)} validation photos carved (stratified, seed {facts.seed}) "
            f"out of train/; tested on all {len(test)} photos of test/. {negatives_sentence(negatives)}"
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
    rejected = ", ".join(f"{group} {figures['rejected']:.1%}" for group, figures in open_set["unknown"].items())
    print(
        f"unknown threshold {shipped.unknown_threshold:.3f}: known test photos accepted {open_set['known_accepted']:.1%} "
        f"(accuracy among them {open_set['accuracy_among_accepted']:.2%}); rejected: {rejected}"
    )
    return card
