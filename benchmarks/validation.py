"""What candidate models do on validation data only: the figures every recipe in docs/model_choices.md was chosen by.

    python benchmarks/validation.py MODEL.pt [MODEL.pt ...] [--data-dir DIR] [--negatives DIR] [--udacity-dir DIR]

For each exported predictor (and the card beside it, MODEL.json): the known validation photos (carved out of
train/ as the training scripts carve them, with the card's seed) it reads wrong, and the share its unknown threshold
accepts; the validation landmarks of the card's split (none for a model that trained on every non-test landmark):
AUROC against the known validation photos and share rejected; the everyday validation pictures
(everyday.everyday_validation_pictures): rejected and AUROC; and the known scores of the official unknown samples,
a check the product requires. No test photo and no never-seen landmark is read: compare recipes here, and read the
test figures only in the cards.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Sequence

import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from landmark_core import data, evaluate, openset  # noqa: E402
from landmark_core.everyday import everyday_validation_pictures  # noqa: E402
from landmark_core.negatives import OTHER_LANDMARKS_DIR, landmark_files, unknown_class_files  # noqa: E402
from landmark_core.samples import UDACITY_SAMPLES_TEST  # noqa: E402


def validation_figures(model_path: Path, data_dir: Path, negatives: Path, udacity_dir: Path) -> dict:
    """The figures of one exported predictor, judged by its own unknown threshold (see the module's docstring)."""
    predictor = torch.jit.load(str(model_path))
    card = json.loads(model_path.with_suffix(".json").read_text())
    train = data.find_images(data_dir, "train")
    _, valid_indices = data.stratified_split(train.labels, data.VALID_FRACTION, card["seed"])
    probabilities, known = evaluate.predict_files(predictor, [train.files[i] for i in valid_indices], "known validation")
    known_correct = probabilities.argmax(1) == torch.as_tensor([train.labels[i] for i in valid_indices])
    landmarks = card.get("open_set", {}).get("landmark_split", {}).get("valid", [])
    groups = {
        "validation landmarks": landmark_files(negatives, landmarks) if landmarks else [],
        "everyday validation pictures": [picture for _, picture in everyday_validation_pictures()],
    }
    unknown = {group: evaluate.predict_files(predictor, items, group)[1] for group, items in groups.items() if items}
    figures = {
        "model": str(model_path),
        "known_validation_photos": len(known_correct),
        "known_wrong": int((~known_correct).sum()),
        **openset.open_set_report(known, known_correct, unknown, predictor.unknown_threshold),
    }
    official = unknown_class_files(udacity_dir, predictor.class_names)
    scores = evaluate.predict_files(predictor, official, "official samples")[1]
    figures["official unknown samples"] = {file.parent.name: round(score, 3) for file, score in zip(official, scores.tolist())}
    # Decided on the unrounded scores: a rounded 0.378 may be a rejected 0.3776.
    figures["official accepted"] = [file.parent.name for file, accepted in zip(official, scores >= predictor.unknown_threshold) if accepted]
    return figures


def line(figures: dict) -> str:
    """One model's figures as one readable line."""
    parts = [
        f"{figures['model']}: threshold {figures['threshold']:.3f}",
        f"known validation {figures['known_wrong']} of {figures['known_validation_photos']} wrong, {figures['known_accepted']:.1%} accepted",
    ]
    for group, group_figures in figures["unknown"].items():
        rejected = round(group_figures["rejected"] * group_figures["photos"])
        parts.append(f"{group} AUROC {group_figures['auroc']:.3f}, {rejected} of {group_figures['photos']} rejected")
    accepted = ", ".join(figures["official accepted"]) or "none"
    parts.append(f"official unknown samples {figures['official unknown samples']} ({accepted} accepted)")
    return " | ".join(parts)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("models", nargs="+", type=Path, help="exported predictors, each with its card beside it")
    parser.add_argument("--data-dir", type=Path, default=data.default_data_dir(), help="dataset root with train/ (default: %(default)s)")
    parser.add_argument("--negatives", type=Path, default=OTHER_LANDMARKS_DIR, help="photos of other landmarks (default: %(default)s)")
    parser.add_argument("--udacity-dir", type=Path, default=UDACITY_SAMPLES_TEST, help="the official sample photos, <dir>/<NN.Class>/*.jpg (default: %(default)s)")
    args = parser.parse_args(argv)
    for model_path in args.models:
        print(line(validation_figures(model_path, args.data_dir, args.negatives, args.udacity_dir)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
