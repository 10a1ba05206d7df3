"""benchmarks/run.py --smoke end to end on tiny synthetic data: every measurement runs, results.json has its
schema and the report is printed. The numbers themselves mean nothing at this size."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
import torch

from benchmarks import crossvalidation, validation
from benchmarks.open_set import APPROACHES, EVERYDAY, HELD_OUT, OFFICIAL, WITHOUT_NEGATIVES, classifier_layer, landmark_folds
from conftest import PYTHON, REPO, make_image_folders, subprocess_env, synthetic_photo
from landmark_core import data, evaluate
from landmark_core.models import ScratchCNN
from landmark_core.negatives import list_landmarks, split_landmarks
from landmark_core.predictor import Predictor, export_predictor
from tiny_models import write_model, write_teaching_features

SYNTHETIC_CLASSES = [f"Synthetic Place {label}" for label in range(3)]  # make_image_folders' classes, by display name
# negatives.split_landmarks' 4 test + 4 validation landmarks and one to train on, as the training scripts split them.
OTHER_LANDMARKS = 9
OPEN_SET_TARGETS = 12
TAGGING_TARGETS = 2
TEACHING_TARGETS = 5


def other_landmarks(root: Path) -> Path:
    """Two photos each of OTHER_LANDMARKS landmarks that look like none of the synthetic classes."""
    for landmark in range(OTHER_LANDMARKS):
        folder = root / f"landmark_{landmark}"
        folder.mkdir(parents=True)
        for i in range(2):
            synthetic_photo(10 + landmark, seed=9000 + 10 * landmark + i).save(folder / f"{i}.jpg", quality=90)
    return root


def fixture_models(folder: Path, negatives: Path) -> Path:
    """Both slots filled by small random-weight models of the synthetic classes; the scratch card names the
    landmarks its training held out, as the card of a model trained with negatives does."""
    folder.mkdir(parents=True)
    for seed, name in enumerate(("scratch", "transfer")):
        write_model(folder, name, classes=SYNTHETIC_CLASSES, seed=seed)
    write_teaching_features(folder / "transfer.pt")
    card = json.loads((folder / "scratch.json").read_text())
    card["open_set"] = {"landmark_split": vars(split_landmarks(list_landmarks(negatives), seed=0))}
    (folder / "scratch.json").write_text(json.dumps(card))
    return folder


@pytest.fixture(scope="module")
def benchmark_inputs(tmp_path_factory) -> list[str]:
    """The command-line arguments that point the benchmark at tiny synthetic inputs."""
    root = tmp_path_factory.mktemp("benchmark")
    dataset = make_image_folders(root / "dataset", classes=3, train_per_class=10, test_per_class=3)
    # Like the official samples: one class the fixture models know, one they do not (Atomium).
    udacity = root / "udacity"
    for folder, label, count in (("00.Synthetic_Place_0", 0, 2), ("37.Atomium", 7, 1)):
        (udacity / folder).mkdir(parents=True)
        for i in range(count):
            synthetic_photo(label, seed=500 + i, size=(120, 90)).save(udacity / folder / f"{i}.jpg", quality=90)
    negatives = other_landmarks(root / "other_landmarks")
    models = fixture_models(root / "models", negatives)
    return [
        "--data-dir", str(dataset), "--udacity-dir", str(udacity), "--negatives", str(negatives), "--gcompris", "", "--models", str(models)
    ]


def run_benchmark(arguments: list[str], out: Path) -> tuple[subprocess.CompletedProcess, dict]:
    command = [PYTHON, "benchmarks/run.py", *arguments, "--out", str(out)]
    env = subprocess_env() | {"OMP_NUM_THREADS": "1"}
    done = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=600)  # slack for a busy shared machine
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-5000:]
    return done, json.loads(out.read_text())


@pytest.fixture(scope="module")
def smoke_run(benchmark_inputs, tmp_path_factory) -> tuple[subprocess.CompletedProcess, dict]:
    return run_benchmark(["--smoke", *benchmark_inputs], tmp_path_factory.mktemp("out") / "results.json")


def test_results_json_has_every_measurement(smoke_run):
    _, results = smoke_run
    assert results["mode"] == "smoke"
    machine = results["machine"]
    for key in ("cpu_model", "cpu_count", "torch_version", "torch_threads", "date", "command"):
        assert machine[key], key
    assert machine["command"].startswith("python benchmarks/run.py --smoke")

    for name in ("scratch", "transfer"):
        test = results["shipped_accuracy"][name]["test"]
        assert (test["n"], test["n_skipped"]) == (9, 0) and 0 <= test["accuracy"] <= 1
        samples = results["shipped_accuracy"][name]["udacity_samples"]
        assert (samples["n"], samples["n_skipped"], samples["skipped_classes"]) == (2, 1, {"Atomium": 1})
        assert 0 <= samples["accuracy"] <= 1 and 0 <= samples["top3_accuracy"] <= 1

        training = results["training"][name]
        for run in (training["ours"], *training["baselines"].values()):
            assert 0 <= run["test_accuracy"] <= 1 and run["train_seconds"] >= 0  # rounded to 0.1 s: tiny runs read 0
            assert run["epochs_run"] == 1 and run["image_size"] == 32
        assert training["ours"]["wall_seconds"] >= training["ours"]["train_seconds"]
        assert "--negatives" in training["ours"]["command"]  # our recipes learn "none of these", as shipped
        for ratios in training["ratios"].values():
            assert set(ratios) == {"test_accuracy", "train_seconds"}

        speed = results["speed"][name]
        assert speed["threads_1"]["torch_threads"] == 1
        for threads in ("threads_default", "threads_1"):
            assert 0 < speed[threads]["latency_ms"]["p50"] <= speed[threads]["latency_ms"]["p95"]
            assert speed[threads]["images_per_second"] > 0

        app = results["app"][name]
        assert 0 < app["round_trip_ms"]["p50"] <= app["round_trip_ms"]["p95"]
    assert results["app"]["peak_rss_mb"] > 50

    tagging = results["tagging"]
    assert tagging["local"]["photos"] == 64 and tagging["local"]["photos_per_second"] > 0 and tagging["local"]["ratio_to_predictor"] > 0
    assert tagging["ray"] == {"skipped": "smoke mode"}
    assert list(tagging["memory"]["runs"]) == ["8", "24"] and tagging["memory"]["ratio_long_to_short"] > 0

    assert list(results["training"]["scratch"]["baselines"]) == ["course_recipe", "course_cnn_our_recipe"]
    assert list(results["training"]["transfer"]["baselines"]) == ["frozen_linear"]
    course = results["training"]["scratch"]["baselines"]["course_recipe"]
    assert course["fit_config"]["schedule"] == "plateau" and course["resize_size"] == 37  # the course's 256/224 resize

    teaching = results["teaching"]
    assert [row["photos"] for row in teaching["time"]] == [10, 50] and all(row["seconds"] > 0 for row in teaching["time"])
    assert [point["photos"] for point in teaching["known"]["curve"]] == [5] and teaching["known"]["curve"][0]["landmarks"] == 3
    for row in teaching["known"]["landmarks"]:
        assert row["landmark"] in SYNTHETIC_CLASSES and 0 <= row["after"]["taught_accuracy"] <= 1
    assert teaching["other"] == []  # two photos per other landmark: too few to teach from and test on

    assert len(results["targets"]) == 6 + TAGGING_TARGETS + OPEN_SET_TARGETS + TEACHING_TARGETS
    assert {check["status"] for check in results["targets"]} <= {"PASS", "FAIL", "SKIP"}
    notes = [check["note"] for check in results["targets"]]
    indicative = "smoke mode: indicative only"
    assert notes[:2] == [None, None] and notes[-11:-5] == [None] * 6  # speed, and the shipped scratch model: as measured
    assert set(notes[2:-11]) == {indicative}  # training, tagging, and transfer heads trained on fewer views
    assert notes[-5:] == [indicative, indicative, None, None, None]  # teaching's time, then its accuracy


def assert_open_set_report(report: dict) -> None:
    """One approach's figures: shares and AUROCs in [0, 1], for each kind of unknown photo."""
    assert set(report["unknown"]) == {HELD_OUT, OFFICIAL, EVERYDAY}
    assert 0 <= report["known_accepted"] <= 1
    for figures in report["unknown"].values():
        assert 0 <= figures["auroc"] <= 1 and 0 <= figures["rejected"] <= 1


def test_open_set_compares_every_approach_on_held_out_landmarks(smoke_run):
    _, results = smoke_run
    transfer = results["open_set"]["transfer"]
    assert list(transfer["approaches"]) == list(APPROACHES)
    landmarks = [f"landmark_{i}" for i in range(OTHER_LANDMARKS)]
    assert sorted(landmark for fold in transfer["folds"] for landmark in fold["test_landmarks"]) == landmarks
    for fold in transfer["folds"]:
        assert sorted(fold["test_landmarks"] + fold["train_landmarks"]) == landmarks  # never in its own fold's training
    for name, report in transfer["approaches"].items():
        assert_open_set_report(report)
        assert len(transfer["per_fold"][name]) == len(transfer["folds"]) == 5
    assert transfer["photos"] == {
        "known train": 24, "known validation": 6, "known test": 9, OFFICIAL: 1, EVERYDAY: transfer["photos"][EVERYDAY], HELD_OUT: 18,
    }
    assert transfer["best"]["held_out_rejected"] in APPROACHES

    scratch = results["open_set"]["scratch"]
    # The fixture scratch model has no "none of these" output: the scorers that need one are left out.
    assert list(scratch["approaches"]) == [*WITHOUT_NEGATIVES, "shipped"]
    assert scratch["outputs"] == "3 (3 landmarks)"
    assert len(scratch["held_out_landmarks"]) == 4 and scratch["photos"][HELD_OUT] == 8
    for report in scratch["approaches"].values():
        assert_open_set_report(report)
    assert "not trained by this benchmark" in scratch["not_compared"]


def test_report_is_printed(smoke_run):
    done, _ = smoke_run
    assert done.stdout.startswith("# Landmark Lens benchmark (smoke)")  # progress, fit's epoch lines too, go to stderr
    open_set = "Open set: rejecting photos of landmarks a model never saw"
    headings = ("Accuracy of the shipped predictors", "Our recipes vs the course's", "Speed of the shipped predictors", "App end to end",
                f"{open_set}, transfer", f"{open_set}, scratch", "Tagging a photo library", "Teaching a landmark", "Targets")
    for heading in headings:
        assert heading in done.stdout, heading
    for row in ("scratch ours/course_recipe", "scratch ours/course_cnn_our_recipe", "transfer ours/frozen_linear", "shipped  "):
        assert row in done.stdout, row
    verdicts = [line for line in done.stdout.split("## Targets")[1].splitlines() if line.startswith(("PASS", "FAIL", "SKIP"))]
    assert len(verdicts) == 6 + TAGGING_TARGETS + OPEN_SET_TARGETS + TEACHING_TARGETS


def test_only_runs_the_sections_asked_for(benchmark_inputs, tmp_path):
    done, results = run_benchmark(["--smoke", "--only", "accuracy", *benchmark_inputs], tmp_path / "results.json")
    assert results["settings"]["sections"] == ["accuracy"]
    assert results["shipped_accuracy"]["scratch"]["test"]["n"] == 9
    for key in ("training", "speed", "app", "open_set", "tagging", "teaching"):
        assert results[key] == {"skipped": "not selected (--only accuracy)"}
    assert {check["status"] for check in results["targets"]} == {"SKIP"}
    assert "skipped (not selected (--only accuracy))" in done.stdout


def test_validation_figures_read_no_test_photo_and_no_never_seen_landmark(benchmark_inputs, monkeypatch, capsys):
    """benchmarks/validation.py, what recipes are chosen by, reads the known validation photos, the card's validation
    landmarks, the everyday validation pictures and the official samples: nothing a test figure is made of."""
    paths = dict(zip(benchmark_inputs[::2], benchmark_inputs[1::2]))
    model, data_dir, negatives = Path(paths["--models"]) / "scratch.pt", Path(paths["--data-dir"]), Path(paths["--negatives"])
    read: list = []
    predict_files = evaluate.predict_files
    monkeypatch.setattr(evaluate, "predict_files", lambda predictor, items, desc: read.extend(items) or predict_files(predictor, items, desc))
    arguments = [str(model), "--data-dir", str(data_dir), "--negatives", str(negatives), "--udacity-dir", paths["--udacity-dir"]]
    assert validation.main(arguments) == 0

    files = [item for item in read if isinstance(item, Path)]
    train = data.find_images(data_dir, "train")
    _, valid_indices = data.stratified_split(train.labels, data.VALID_FRACTION, seed=0)
    assert [file for file in files if data_dir in file.parents] == [train.files[i] for i in valid_indices]
    split = json.loads(model.with_suffix(".json").read_text())["open_set"]["landmark_split"]
    assert {file.parent.name for file in files if negatives in file.parents} == set(split["valid"])
    assert [file.parent.name for file in files if Path(paths["--udacity-dir"]) in file.parents] == ["37.Atomium"]
    printed = capsys.readouterr().out
    assert "validation landmarks AUROC" in printed and "of 11 rejected" in printed and "37.Atomium" in printed


def test_landmark_folds_test_every_landmark_once():
    landmarks = [f"landmark_{i}" for i in range(20)]
    folds = landmark_folds(landmarks, 5, seed=0)
    assert [len(fold) for fold in folds] == [4] * 5
    assert sorted(landmark for fold in folds for landmark in fold) == sorted(landmarks)
    assert landmark_folds(landmarks, 5, seed=0) == folds and landmark_folds(landmarks, 5, seed=1) != folds
    assert len(landmark_folds(landmarks[:3], 5, seed=0)) == 3  # never an empty fold
    with pytest.raises(ValueError, match="at least 2"):
        landmark_folds(landmarks[:1], 5, seed=0)


def test_crossvalidation_pools_each_folds_held_out_photos():
    def card(fold: int, photos: int, rejected: float, auroc: float) -> dict:
        split = {"train": ["b"] if fold == 0 else ["a"], "valid": [], "test": ["a"] if fold == 0 else ["b"]}
        unknown = {"held-out places (GCompris)": {"photos": photos, "rejected": rejected, "auroc": auroc}, "held-out landmarks": {"photos": 9, "rejected": 0.5, "auroc": 0.9}}
        return {"command": f"python train_transfer.py --gcompris-held-out {fold}/2", "unknown_threshold": 0.2, "test_accuracy": 0.9,
                "open_set": {"known_accepted": 0.96, "unknown": unknown, "split: held-out places (GCompris)": split}}

    cards = [card(0, 10, 0.8, 0.96), card(1, 30, 0.6, 0.92)]
    pooled = crossvalidation.pooled(cards)
    # only the groups the folds split are pooled; the other landmarks' held-out 4 are the same in every fold
    assert pooled == {"held-out places (GCompris)": {"photos": 40, "rejected": 0.65, "auroc_per_fold": [0.96, 0.92], "auroc_mean": 0.94}}
    summary = crossvalidation.fold_summary(1, cards[1])
    assert summary["splits"]["held-out places (GCompris)"]["test"] == ["b"] and set(summary["unknown"]) == {"held-out places (GCompris)", "held-out landmarks"}
    assert crossvalidation.fold_command("scratch", 1, 2, Path("/w"), ["--epochs", "1"])[1:] == [
        "train_scratch.py", "--gcompris-held-out", "1/2", "--out", "/w/fold-1", "--run-dir", "/w/run-1", "--epochs", "1"
    ]


def test_classifier_layer_is_read_out_of_a_frozen_predictor_with_a_none_of_these_output(tmp_path):
    torch.manual_seed(0)
    network = ScratchCNN(len(SYNTHETIC_CLASSES) + 1, widths=(8, 8, 16, 16, 16))  # + "none of these", as trained with negatives
    predictor = Predictor(network, SYNTHETIC_CLASSES, mean=[0.5] * 3, std=[0.25] * 3, resize_size=73, crop_size=64)
    export_predictor(predictor, tmp_path / "scratch.pt")
    weight, bias = classifier_layer(torch.jit.load(str(tmp_path / "scratch.pt")), torch.randint(0, 256, (3, 80, 100), dtype=torch.uint8))
    assert torch.equal(weight, network.classifier.weight.detach()) and torch.equal(bias, network.classifier.bias.detach())
