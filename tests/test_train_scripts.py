"""End to end on real photos: each training script trains briefly on a slice of the shared data,
exports, and the exported file alone (a fresh process with only torch) classifies a real JPEG."""

import json
import subprocess
from pathlib import Path

import pytest

from conftest import EIFFEL_SAMPLE, LANDMARKS, PYTHON, REPO, predict_in_fresh_process, require, subprocess_env, synthetic_photo
from landmark_core import runtime
from landmark_core.gcompris import MARKER
from landmark_core.negatives import OTHER_LANDMARKS_DIR

SLICE_CLASSES = ["07.Stonehenge", "16.Eiffel_Tower", "21.Taj_Mahal"]


@pytest.fixture(scope="module")
def real_slice(tmp_path_factory) -> Path:
    """12 train and 3 test photos of three real classes, linked (not copied) from the shared data."""
    require(LANDMARKS.is_dir(), f"real photos not found at {LANDMARKS}")
    root = tmp_path_factory.mktemp("slice")
    for split, count in (("train", 12), ("test", 3)):
        for folder in SLICE_CLASSES:
            (root / split / folder).mkdir(parents=True)
            for photo in sorted((LANDMARKS / split / folder).glob("*.jpg"))[:count]:
                (root / split / folder / photo.name).symlink_to(photo)
    return root


@pytest.fixture(scope="module")
def negatives_slice(tmp_path_factory) -> Path:
    """3 photos each of 9 other landmarks (linked): enough for the by-landmark split of 4 test, 4 valid, 1 train."""
    require(OTHER_LANDMARKS_DIR.is_dir(), f"other landmarks not found at {OTHER_LANDMARKS_DIR}")
    root = tmp_path_factory.mktemp("negatives")
    for landmark in sorted(p for p in OTHER_LANDMARKS_DIR.iterdir() if p.is_dir())[:9]:
        (root / landmark.name).mkdir()
        for photo in sorted(landmark.glob("*.jpg"))[:3]:
            (root / landmark.name / photo.name).symlink_to(photo)
    return root


@pytest.fixture(scope="module")
def gcompris_slice(tmp_path_factory) -> Path:
    """A fetched-looking GCompris folder: 3 places (photos of 3 more other landmarks, linked) and 3 everyday subjects."""
    root = tmp_path_factory.mktemp("gcompris")
    for index, landmark in enumerate(sorted(p for p in OTHER_LANDMARKS_DIR.iterdir() if p.is_dir())[10:13]):
        (root / "places" / f"place_{index}").mkdir(parents=True)
        for photo in sorted(landmark.glob("*.jpg"))[:2]:
            (root / "places" / f"place_{index}" / photo.name).symlink_to(photo)
    for index in range(3):
        (root / "everyday" / f"thing_{index}").mkdir(parents=True)
        synthetic_photo(7 + index, seed=index, size=(160, 120)).save(root / "everyday" / f"thing_{index}" / "a.jpg")
    (root / MARKER).touch()
    return root


def run_script(script: str, *args: str) -> subprocess.CompletedProcess:
    done = subprocess.run([PYTHON, script, *args], cwd=REPO, env=subprocess_env(), capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return done


@pytest.mark.parametrize(
    "script, extra",
    [
        ("train_scratch.py", ["--epochs", "2", "--image-size", "64", "--batch-size", "16"]),
        ("train_transfer.py", ["--epochs", "2", "--views", "1"]),
    ],
)
def test_train_export_reload_predict(real_slice, negatives_slice, gcompris_slice, tmp_path, script, extra):
    name = script.removeprefix("train_").removesuffix(".py")
    out = tmp_path / "out"
    run_script(
        script, "--data-dir", str(real_slice), "--negatives", str(negatives_slice), "--gcompris", str(gcompris_slice),
        "--gcompris-held-out", "0/3", "--out", str(out), "--run-dir", str(tmp_path / "run"), *extra
    )
    card = json.loads((out / f"{name}.json").read_text())
    open_set = card["open_set"]
    assert open_set["unknown"]["held-out landmarks"]["photos"] == 12 and len(open_set["landmark_split"]["test"]) == 4
    # fold 0 of 3 of the GCompris places and subjects never trained: a group of their own
    assert open_set["unknown"]["held-out places (GCompris)"]["photos"] == 2
    assert open_set["unknown"]["held-out everyday photos (GCompris)"]["photos"] == 1
    assert 0 <= open_set["known_accepted"] <= 1 and open_set["threshold"] == card["unknown_threshold"]
    assert {"official unknown samples", "everyday photos"} <= set(open_set["unknown"])
    # scratch early-stops on 4 validation landmarks; transfer trains on them (--valid-landmarks 0)
    assert ("validation landmarks" in open_set["unknown"]) == (name == "scratch")
    assert len(open_set["landmark_split"]["valid"]) == (4 if name == "scratch" else 0)
    assert card["classes"] == ["Stonehenge", "Eiffel Tower", "Taj Mahal"]
    assert (card["n_train"], card["n_valid"], card["n_test"]) == (30, 6, 9)
    assert card["epochs"] == 2 and card["command"].startswith(f"python {script}")
    # bfloat16 autocast: both scripts' default where the CPU multiplies it in hardware
    assert card["fit_config"]["bfloat16"] == runtime.has_bfloat16_matrix_units()
    if name == "scratch":  # trains on smaller crops than it reads (FixRes): 4/5 of --image-size 64
        assert (card["train_size"], card["image_size"]) == (51, 64)
        assert card["shuffled_tiles"] == 0.1  # tile-shuffled known views joined "none of these"
    else:  # no --image-size given: Lite1's native size
        assert card["image_size"] == 240 and card["backbone"] == "efficientnet_lite1"
    assert 0 <= card["test_accuracy"] <= 1 and set(card["per_class_accuracy"]) == set(card["classes"])
    for plot in (f"{name}_curves.png", f"{name}_confusion.png"):
        assert (out / plot).stat().st_size > 1000
    result = predict_in_fresh_process(out / f"{name}.pt", EIFFEL_SAMPLE)
    assert result["classes"] == card["classes"]
    assert sum(result["probabilities"]) == pytest.approx(1.0, abs=1e-5)


@pytest.mark.parametrize(
    "script, extra",
    [
        ("train_scratch.py", ["--epochs", "2", "--image-size", "32", "--batch-size", "16"]),
        ("train_scratch.py", ["--epochs", "2", "--image-size", "32", "--batch-size", "16", "--bfloat16"]),
        ("train_transfer.py", ["--epochs", "2", "--views", "1", "--image-size", "64"]),
    ],
)
def test_the_same_seed_trains_the_same_model(real_slice, negatives_slice, tmp_path, script, extra):
    """The cards say "seed 0": rebuilding with it must retrace every epoch, initial weights included."""
    histories = []
    for attempt in ("first", "second"):
        run_dir = tmp_path / attempt
        run_script(
            script, "--data-dir", str(real_slice), "--negatives", str(negatives_slice), "--gcompris", "", "--out", str(run_dir / "out"),
            "--run-dir", str(run_dir), *extra
        )
        history = json.loads((run_dir / "history.json").read_text())
        histories.append([{key: value for key, value in epoch.items() if key != "seconds"} for epoch in history])
    assert histories[0] == histories[1]
    if "--bfloat16" in extra:
        assert json.loads((run_dir / "out" / "scratch.json").read_text())["fit_config"]["bfloat16"] is True


def test_missing_data_folder_is_a_clear_message_not_a_traceback(tmp_path):
    done = subprocess.run(
        [PYTHON, "train_scratch.py", "--data-dir", str(tmp_path / "nowhere"), "--out", str(tmp_path)],
        cwd=REPO, env=subprocess_env(), capture_output=True, text=True, timeout=120,
    )
    assert done.returncode != 0
    assert "Traceback" not in done.stderr
    assert "expected" in done.stderr and "--download" in done.stderr


@pytest.mark.slow
def test_crossvalidation_trains_each_fold_without_its_gcompris_places(real_slice, negatives_slice, gcompris_slice, tmp_path):
    """benchmarks/crossvalidation.py end to end on the slices: 3 folds, each place and subject tested once."""
    out = tmp_path / "cv.json"
    done = subprocess.run(
        [
            PYTHON, "benchmarks/crossvalidation.py", "--folds", "3", "--work", str(tmp_path / "work"), "--out", str(out), "--",
            "--data-dir", str(real_slice), "--negatives", str(negatives_slice), "--gcompris", str(gcompris_slice),
            "--epochs", "1", "--views", "1", "--image-size", "64",
        ],
        cwd=REPO, env=subprocess_env(), capture_output=True, text=True, timeout=900,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(out.read_text())
    places = [fold["splits"]["held-out places (GCompris)"] for fold in result["folds"]]
    assert sorted(name for split in places for name in split["test"]) == ["place_0", "place_1", "place_2"]
    assert result["pooled"]["held-out places (GCompris)"]["photos"] == 6  # 2 photos a place, each counted once
    assert [fold["command"].split("--gcompris-held-out ")[1][:3] for fold in result["folds"]] == ["0/3", "1/3", "2/3"]
