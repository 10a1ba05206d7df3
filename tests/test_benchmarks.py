"""benchmarks/run.py --smoke end to end on tiny synthetic data: every measurement runs, results.json has its
schema and the report is printed. The numbers themselves mean nothing at this size."""

from __future__ import annotations

import json
import subprocess

import pytest

from conftest import PYTHON, REPO, make_image_folders, subprocess_env, synthetic_photo
from test_inference import make_model_dir


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory) -> tuple[subprocess.CompletedProcess, dict]:
    root = tmp_path_factory.mktemp("benchmark")
    dataset = make_image_folders(root / "dataset", classes=3, train_per_class=10, test_per_class=3)
    # Like the official samples: one class the fixture models know (Eiffel Tower), one they do not (Atomium).
    udacity = root / "udacity"
    for folder, count in (("16.Eiffel_Tower", 2), ("37.Atomium", 1)):
        (udacity / folder).mkdir(parents=True)
        for i in range(count):
            synthetic_photo(i, seed=500 + i, size=(120, 90)).save(udacity / folder / f"{i}.jpg", quality=90)
    out = root / "results.json"
    command = [
        PYTHON, "benchmarks/run.py", "--smoke", "--data-dir", str(dataset), "--udacity-dir", str(udacity),
        "--models", str(make_model_dir(root / "models")), "--out", str(out),
    ]
    env = subprocess_env() | {"OMP_NUM_THREADS": "1"}
    done = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-5000:]
    return done, json.loads(out.read_text())


def test_results_json_has_every_measurement(smoke_run):
    _, results = smoke_run
    assert results["mode"] == "smoke"
    machine = results["machine"]
    for key in ("cpu_model", "cpu_count", "torch_version", "torch_threads", "date", "command"):
        assert machine[key], key
    assert machine["command"].startswith("python benchmarks/run.py --smoke")

    for name in ("scratch", "transfer"):
        test = results["shipped_accuracy"][name]["test"]
        assert test["n"] == 0 and test["n_skipped"] == 9 and test["accuracy"] is None  # synthetic classes: unknown
        samples = results["shipped_accuracy"][name]["udacity_samples"]
        assert (samples["n"], samples["n_skipped"], samples["skipped_classes"]) == (2, 1, {"Atomium": 1})
        assert 0 <= samples["accuracy"] <= 1 and 0 <= samples["top3_accuracy"] <= 1

        training = results["training"][name]
        for run in (training["ours"], *training["baselines"].values()):
            assert 0 <= run["test_accuracy"] <= 1 and run["train_seconds"] >= 0  # rounded to 0.1 s: tiny runs read 0
            assert run["epochs_run"] == 1 and run["image_size"] == 32
        assert training["ours"]["wall_seconds"] >= training["ours"]["train_seconds"]
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

    assert list(results["training"]["scratch"]["baselines"]) == ["course_recipe", "course_cnn_our_recipe"]
    assert list(results["training"]["transfer"]["baselines"]) == ["frozen_linear"]
    course = results["training"]["scratch"]["baselines"]["course_recipe"]
    assert course["fit_config"]["schedule"] == "plateau" and course["resize_size"] == 37  # the course's 256/224 resize

    assert len(results["targets"]) == 6
    assert {check["status"] for check in results["targets"]} <= {"PASS", "FAIL", "SKIP"}
    assert all(check["note"] == "smoke mode: indicative only" for check in results["targets"][2:])


def test_report_is_printed(smoke_run):
    done, _ = smoke_run
    assert done.stdout.startswith("# Landmark Lens benchmark (smoke)")  # progress, fit's epoch lines too, go to stderr
    for heading in ("Accuracy of the shipped predictors", "Our recipes vs the course's", "Speed of the shipped predictors", "App end to end", "Targets"):
        assert heading in done.stdout, heading
    for row in ("scratch ours/course_recipe", "scratch ours/course_cnn_our_recipe", "transfer ours/frozen_linear"):
        assert row in done.stdout, row
    verdicts = [line for line in done.stdout.split("## Targets")[1].splitlines() if line.startswith(("PASS", "FAIL", "SKIP"))]
    assert len(verdicts) == 6
