"""What our recipes buy over the course's, trained in this run on the same data with the same epoch budget and
image size: train_scratch.py and train_transfer.py run as the user runs them (as subprocesses into a temporary
folder, so the shipped models are never touched), then each baseline of benchmarks/baselines.py trained here,
exported and evaluated exactly as release() evaluates ours."""

from __future__ import annotations

import contextlib
import shlex
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable, Sequence

import torch

from benchmarks import REPO
from benchmarks.accuracy import accuracy_on
from benchmarks.app_harness import script_env
from benchmarks.baselines import BaselineRecipe, scratch_baselines, transfer_baselines
from benchmarks.modes import Mode
from benchmarks.measuring import attempt
from landmark_core import data
from landmark_core.files import read_json
from landmark_core.places import display_name
from landmark_core.predictor import Predictor, export_predictor
from landmark_core.training import HISTORY, fit


def ratio(ours: float | None, baseline: float | None) -> float | None:
    return round(ours / baseline, 3) if ours is not None and baseline else None


def run_recipe(name: str, data_dir: Path, workdir: Path, extra: Sequence[str]) -> dict:
    """`python train_<name>.py` into `workdir`: wall time, per-epoch times (history.json) and the card's numbers."""
    out, run_dir = workdir / f"{name}_out", workdir / f"{name}_run"
    command = [sys.executable, f"train_{name}.py", "--data-dir", str(data_dir), "--out", str(out), "--run-dir", str(run_dir), *extra]
    started = time.perf_counter()
    # The script's own progress bars and epoch lines go to our stderr; our stdout keeps only the report.
    subprocess.run(command, cwd=REPO, env=script_env(), stdout=sys.stderr, stderr=sys.stderr, check=True)
    wall = time.perf_counter() - started
    card = read_json(out / f"{name}.json")
    epoch_seconds = [record["seconds"] for record in read_json(run_dir / HISTORY)]
    return {
        "command": shlex.join(["python", f"train_{name}.py", *command[2:]]),
        "wall_seconds": round(wall, 1),
        "train_seconds": card["train_seconds"],  # decode + (features) + fit, as the card states it
        "epochs_budget": card["fit_config"]["epochs"],
        "epochs_run": len(epoch_seconds),
        "epoch_seconds": [round(seconds, 2) for seconds in epoch_seconds],
        "seconds_per_epoch": round(statistics.mean(epoch_seconds), 2),
        "setup_seconds": round(card["train_seconds"] - sum(epoch_seconds), 1),  # decoding, backbone features
        "image_size": card["image_size"],
        "resize_size": card["resize_size"],
        "fit_config": card["fit_config"],
        "test_accuracy": card["test_accuracy"],
        "top3_accuracy": card["top3_accuracy"],
        "per_class_accuracy": card["per_class_accuracy"],
        "n_train": card["n_train"],
        "n_test": card["n_test"],
        "backbone": card.get("backbone"),
    }


def train_baseline(recipe: BaselineRecipe, data_dir: Path, ours: dict, workdir: Path) -> dict:
    """Train the baseline here (timed like a card's train_seconds: decode + fit), export it as a Predictor and
    evaluate the exported file on test/ exactly as release() evaluates ours."""
    resize_size, image_size = recipe.resize_size, ours["image_size"]
    started = time.perf_counter()
    prepared = data.prepare(data_dir, data.decode_size(image_size), recipe.fit_config.seed, cache_dir=None)
    mean, std = recipe.normalization(prepared.train_images)
    plain = data.eval_transform(resize_size, image_size, mean, std)
    train_view = plain if recipe.train_view is None else recipe.train_view(image_size, mean, std)
    torch.manual_seed(recipe.fit_config.seed)  # initial weights, as our scripts seed theirs
    model = recipe.model(len(prepared.train.class_folders), image_size)
    with contextlib.redirect_stdout(sys.stderr):  # fit's epoch lines are progress; stdout keeps only the report
        history = fit(
            model,
            data.TensorImageDataset(prepared.train_images, prepared.train_labels, train_view),
            data.TensorImageDataset(prepared.valid_images, prepared.valid_labels, plain),
            workdir / f"{recipe.name}_run",
            recipe.fit_config,
        )
    train_seconds = time.perf_counter() - started
    class_names = [display_name(folder) for folder in prepared.train.class_folders]
    path = workdir / f"{recipe.name}.pt"
    export_predictor(Predictor(model, class_names, mean=mean, std=std, resize_size=resize_size, crop_size=image_size), path)
    report = accuracy_on(torch.jit.load(str(path)), prepared.test.files, prepared.test.labels, f"{recipe.name} test")
    epoch_seconds = [record.seconds for record in history]
    return {
        "recipe": recipe.description,
        "train_seconds": round(train_seconds, 1),
        "epochs_budget": recipe.fit_config.epochs,
        "epochs_run": len(history),
        "epoch_seconds": [round(seconds, 2) for seconds in epoch_seconds],
        "seconds_per_epoch": round(statistics.mean(epoch_seconds), 2),
        "image_size": image_size,
        "resize_size": resize_size,
        "fit_config": vars(recipe.fit_config),
        "test_accuracy": report["accuracy"],
        "top3_accuracy": report["top3_accuracy"],
        "per_class_accuracy": report["per_class_accuracy"],
        "n_test": report["n"],
    }


def compare_recipes(
    name: str, data_dir: Path, workdir: Path, extra: Sequence[str], baselines: Callable[[dict], list[BaselineRecipe]]
) -> dict:
    """Our recipe, then each baseline with its budget; ratios are ours / baseline."""
    ours = attempt(f"train_{name}.py", run_recipe, name, data_dir, workdir, extra)
    if "error" in ours:
        return {"ours": ours, "baselines": {"error": "not run: our recipe failed, so their budget is unknown"}}
    trained = {recipe.name: attempt(f"baseline {recipe.name}", train_baseline, recipe, data_dir, ours, workdir) for recipe in baselines(ours)}
    ratios = {
        baseline: {key: ratio(ours.get(key), result.get(key)) for key in ("test_accuracy", "train_seconds")}
        for baseline, result in trained.items()
    }
    return {"ours": ours, "baselines": trained, "ratios": ratios}


def training_cost(data_dir: Path, negatives_dir: Path, gcompris_dir: Path, workdir: Path, mode: Mode) -> dict:
    """Both of our recipes against their baselines; ours learn "none of these" as shipped, from `negatives_dir` and
    `gcompris_dir`."""
    negatives = ("--negatives", str(negatives_dir), "--gcompris", str(gcompris_dir))
    return {
        "scratch": compare_recipes("scratch", data_dir, workdir, (*mode.scratch_args, *negatives), scratch_baselines),
        "transfer": compare_recipes(
            "transfer", data_dir, workdir, (*mode.transfer_args, *negatives), lambda ours: transfer_baselines(ours, mode.transfer_baseline_epochs)
        ),
    }
