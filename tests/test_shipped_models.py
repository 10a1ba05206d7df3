"""The models in assets/models are what the README and their cards say they are."""

import json

import pytest
import torch

from conftest import EIFFEL_SAMPLE, LANDMARKS, REPO, predict_in_fresh_process, require
from landmark_core import data, evaluate

MODELS = REPO / "assets" / "models"
NAMES = ["scratch", "transfer"]


def shipped(name: str):
    path = MODELS / f"{name}.pt"
    require(path.is_file(), f"{path} is not built yet (python train_{name}.py)")
    return path, json.loads(path.with_suffix(".json").read_text())


@pytest.mark.parametrize("name", NAMES)
def test_loads_with_only_torch_and_knows_the_eiffel_tower(name):
    require(EIFFEL_SAMPLE is not None, "the official Eiffel Tower sample photo is not in ../shared/data")
    path, card = shipped(name)
    result = predict_in_fresh_process(path, EIFFEL_SAMPLE)
    best = max(range(len(result["classes"])), key=result["probabilities"].__getitem__)
    assert result["classes"][best] == "Eiffel Tower"
    assert card["classes"] == list(torch.jit.load(str(path)).class_names)


@pytest.mark.parametrize("name", NAMES)
def test_card_accuracy_matches_a_fresh_evaluation(name):
    require(LANDMARKS.is_dir(), f"the shared test photos are not at {LANDMARKS}")
    path, card = shipped(name)
    predictor = torch.jit.load(str(path))
    test = data.find_images(LANDMARKS, "test")
    report = evaluate.accuracy_report(evaluate.predict_files(predictor, test.files), test.labels, card["classes"])
    assert card["n_test"] == len(test)
    assert report["accuracy"] == card["test_accuracy"]
    assert report["top3_accuracy"] == card["top3_accuracy"]
    assert report["per_class_accuracy"] == card["per_class_accuracy"]


@pytest.mark.parametrize("name", NAMES)
def test_card_records_how_to_rebuild(name):
    _, card = shipped(name)
    assert card["command"] == f"python train_{card['kind']}.py"
    assert card["seed"] == 0 and card["epochs"] >= 1 and card["train_seconds"] > 0
    assert 0 < card["unknown_threshold"] < 1
    assert "trained_on" in card and str(LANDMARKS.name) in card["data_root"]
