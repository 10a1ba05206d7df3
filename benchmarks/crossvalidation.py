"""How well a recipe rejects GCompris places and everyday subjects it never saw, by cross-validation.

    python benchmarks/crossvalidation.py [--model transfer] [--folds 3] [--work /tmp/crossvalidation] [--out assets/models/<model>_crossvalidation.json] [-- TRAINING ARGS]

Both shipped models train on every GCompris photo, so their cards cannot say how they treat places and things
they never saw. This runs the training command once per fold, each with `--gcompris-held-out K/N`: fold K of the
places and of the subjects (seeded, as landmark_core.negatives splits them) never trains, and that run's card
measures them at its own threshold. Pooled over the folds, every place and subject is tested once, by a model that
never saw it; the app's model facts show the pooled figures. Each run takes what `python train_<model>.py`
takes (4-5 min on 2 cores for the transfer model, 25-30 for the scratch CNN). Arguments after `--` go to every run (e.g. `--epochs 1`).
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from landmark_core.files import read_json, write_json  # noqa: E402
from landmark_core.model_files import DEFAULT_MODEL_DIR, MODEL_NAMES  # noqa: E402

SPLIT_PREFIX = "split: "  # a card's key for a split source's landmarks: "split: held-out places (GCompris)"


def fold_command(model: str, fold: int, folds: int, work: Path, training_args: list[str]) -> list[str]:
    return [
        sys.executable, f"train_{model}.py", "--gcompris-held-out", f"{fold}/{folds}",
        "--out", str(work / f"fold-{fold}"), "--run-dir", str(work / f"run-{fold}"), *training_args,
    ]


def pooled(cards: list[dict]) -> dict:
    """Per held-out group that the folds split (the GCompris ones): photos, share rejected over every fold's photos,
    and AUROC per fold and its mean."""
    groups = sorted({key.removeprefix(SPLIT_PREFIX) for card in cards for key in card["open_set"] if key.startswith(SPLIT_PREFIX)})
    report = {}
    for group in groups:
        rows = [card["open_set"]["unknown"][group] for card in cards if group in card["open_set"]["unknown"]]
        photos = sum(row["photos"] for row in rows)
        report[group] = {
            "photos": photos,
            "rejected": round(sum(row["rejected"] * row["photos"] for row in rows) / photos, 4),
            "auroc_per_fold": [row["auroc"] for row in rows],
            "auroc_mean": round(statistics.fmean(row["auroc"] for row in rows), 4),
        }
    return report


def fold_summary(fold: int, card: dict) -> dict:
    """What one fold's card says about its held-out photos and what it trained on."""
    open_set = card["open_set"]
    return {
        "fold": fold,
        "command": card["command"],
        "threshold": card["unknown_threshold"],
        "known_accepted": open_set["known_accepted"],
        "test_accuracy": card["test_accuracy"],
        "unknown": {group: row for group, row in open_set["unknown"].items() if group.startswith("held-out")},
        "splits": {key.removeprefix(SPLIT_PREFIX): split for key, split in open_set.items() if key.startswith(SPLIT_PREFIX)},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", choices=MODEL_NAMES, default="transfer", help="whose training script runs")
    parser.add_argument("--folds", type=int, default=3)
    parser.add_argument("--work", type=Path, default=Path("/tmp/crossvalidation"), help="each fold's model, card and run folder")
    parser.add_argument(
        "--out", type=Path, default=None, help="default: assets/models/<model>_crossvalidation.json, which the app shows beside the card"
    )
    parser.add_argument("training_args", nargs="*", help="after --: passed to every train_<model>.py run")
    args = parser.parse_args()
    out = args.out or DEFAULT_MODEL_DIR / f"{args.model}_crossvalidation.json"
    cards = []
    for fold in range(args.folds):
        command = fold_command(args.model, fold, args.folds, args.work, args.training_args)
        print("$", " ".join(command[1:]), flush=True)
        subprocess.run(command, cwd=REPO, check=True)
        cards.append(read_json(args.work / f"fold-{fold}" / f"{args.model}.json"))
    result = {
        "command": " ".join(["python", "benchmarks/crossvalidation.py", *sys.argv[1:]]),
        "pooled": pooled(cards),
        "folds": [fold_summary(fold, card) for fold, card in enumerate(cards)],
    }
    write_json(out, result)
    for group, row in result["pooled"].items():
        print(f"{group}: {row['photos']} photos, rejected {row['rejected']:.1%}, AUROC {row['auroc_mean']:.3f} (mean of {row['auroc_per_fold']})")


if __name__ == "__main__":
    main()
