"""landmark_core.model_files: loading the two model files, and every message that names a broken one and the
command that rebuilds it; with the tiny random-weight models of tiny_models.py."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from landmark_core import model_files
from tiny_models import CLASSES


def test_load_model_reads_predictor_and_card(model):
    assert model.name == "scratch"
    assert model.class_names == CLASSES
    assert model.card["test_accuracy"] == 0.5
    assert model.command == f"python train_scratch.py --epochs 1 --out {model.model_dir}"  # a rebuild writes where it was read
    assert model.title == "Scratch (ScratchCNN)"


def test_title_names_the_transfer_backbone(model_dir):
    assert model_files.load_model(model_dir, "transfer").title == "Transfer (EfficientNet-Lite0)"


def test_missing_model_names_the_file_and_the_command(tmp_path):
    with pytest.raises(model_files.ModelFileError, match=r"transfer\.pt is missing.*python train_transfer\.py"):
        model_files.load_model(tmp_path, "transfer")


def test_truncated_model_is_reported_with_the_cards_command(model_dir, tmp_path):
    data = (model_dir / "scratch.pt").read_bytes()
    (tmp_path / "scratch.pt").write_bytes(data[: len(data) // 3])
    (tmp_path / "scratch.json").write_text((model_dir / "scratch.json").read_text())
    with pytest.raises(model_files.ModelFileError, match=r"scratch\.pt is corrupt or truncated.*python train_scratch\.py --epochs 1"):
        model_files.load_model(tmp_path, "scratch")


def test_garbage_model_and_missing_card_are_reported(model_dir, tmp_path):
    (tmp_path / "scratch.pt").write_bytes(b"PK\x03\x04 definitely not a torchscript archive")
    with pytest.raises(model_files.ModelFileError, match="corrupt or truncated"):
        model_files.load_model(tmp_path, "scratch")
    (tmp_path / "scratch.pt").write_bytes((model_dir / "scratch.pt").read_bytes())
    with pytest.raises(model_files.ModelFileError, match=r"scratch\.json is missing"):
        model_files.load_model(tmp_path, "scratch")


def test_an_unknown_model_name_is_refused_with_the_names_allowed(model_dir):
    with pytest.raises(ValueError) as refused:
        model_files.load_model(model_dir, "../models/scratch")
    assert str(refused.value) == "Unknown model '../models/scratch'; expected one of scratch, transfer."


def copy_model(model_dir: Path, folder: Path, card_text: str | None) -> Path:
    (folder / "scratch.pt").write_bytes((model_dir / "scratch.pt").read_bytes())
    if card_text is not None:
        (folder / "scratch.json").write_text(card_text, encoding="utf-8")
    return folder


def test_an_unreadable_card_is_told_apart_from_a_missing_one(model_dir, tmp_path):
    copy_model(model_dir, tmp_path, "{not json")
    with pytest.raises(model_files.ModelFileError) as unreadable:
        model_files.load_model(tmp_path, "scratch")
    assert str(unreadable.value) == f"Model card {tmp_path / 'scratch.json'} is unreadable. Rebuild it with: python train_scratch.py --out {tmp_path}"


def test_a_card_that_is_not_an_object_is_refused(model_dir, tmp_path):
    copy_model(model_dir, tmp_path, '["classes"]')
    with pytest.raises(model_files.ModelFileError) as refused:
        model_files.load_model(tmp_path, "scratch")
    assert str(refused.value) == f"Model card {tmp_path / 'scratch.json'} is not a JSON object. Rebuild it with: python train_scratch.py --out {tmp_path}"


def test_a_card_with_other_classes_is_refused_and_one_without_classes_is_not(model_dir, tmp_path):
    card = json.loads((model_dir / "scratch.json").read_text(encoding="utf-8"))
    copy_model(model_dir, tmp_path, json.dumps({**card, "classes": list(reversed(CLASSES))}))
    with pytest.raises(model_files.ModelFileError) as refused:
        model_files.load_model(tmp_path, "scratch")
    assert str(refused.value) == (
        f"Model card {tmp_path / 'scratch.json'} lists other classes than scratch.pt. Rebuild both with: python train_scratch.py --epochs 1 --out {tmp_path}"
    )
    del card["classes"]
    copy_model(model_dir, tmp_path, json.dumps(card))
    assert model_files.load_model(tmp_path, "scratch").class_names == CLASSES


def test_a_torchscript_file_without_the_contract_names_what_it_lacks(tmp_path):
    class Bare(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.class_names = ["a"]

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x

    torch.jit.save(torch.jit.script(Bare()), str(tmp_path / "scratch.pt"))
    (tmp_path / "scratch.json").write_text("{}", encoding="utf-8")
    with pytest.raises(model_files.ModelFileError) as refused:
        model_files.load_model(tmp_path, "scratch")
    lacks = "unknown_threshold, known_score, classify, pooled, resize_size, crop_size, activation_map, crop_box"
    assert str(refused.value) == f"{tmp_path / 'scratch.pt'} is not a Landmark Lens predictor (it lacks {lacks}). Rebuild it with: python train_scratch.py --out {tmp_path}"


@pytest.mark.parametrize(
    "error, reason",
    [
        (RuntimeError("x" * 300 + "\nsecond line"), "x" * 200),  # the first line, cut at 200 characters
        (RuntimeError("  short reason\nmore"), "short reason"),  # leading blanks stripped, later lines left out
        (ValueError(""), "ValueError"),  # no message: the error's type
        (OSError(" \n "), "OSError"),
    ],
)
def test_a_model_torch_cannot_load_gives_the_first_line_of_why(model_dir, tmp_path, monkeypatch, error, reason):
    copy_model(model_dir, tmp_path, "{}")

    def fails(*args, **kwargs):
        raise error

    monkeypatch.setattr(torch.jit, "load", fails)
    with pytest.raises(model_files.ModelFileError) as refused:
        model_files.load_model(tmp_path, "scratch")
    assert str(refused.value) == f"Model file {tmp_path / 'scratch.pt'} is corrupt or truncated ({reason}). Rebuild it with: python train_scratch.py --out {tmp_path}"


def test_models_are_loaded_onto_the_cpu(model_dir, monkeypatch):
    """A model saved from a GPU must still load on a machine without one."""
    asked = []
    load = torch.jit.load

    def recording(*args, **kwargs):
        asked.append(kwargs.get("map_location"))
        return load(*args, **kwargs)

    monkeypatch.setattr(torch.jit, "load", recording)
    model_files.load_model(model_dir, "scratch")
    assert asked == ["cpu"]


def test_rebuild_command_reads_the_card_or_falls_back(model_dir, tmp_path):
    assert model_files.rebuild_command(model_dir, "scratch") == f"python train_scratch.py --epochs 1 --out {model_dir}"
    assert model_files.rebuild_command(tmp_path, "transfer") == f"python train_transfer.py --out {tmp_path}"  # no card
    for card in ["{broken", "[1, 2]", '{"command": "   "}', '{"command": 7}', '{"other": 1}']:
        (tmp_path / "transfer.json").write_text(card, encoding="utf-8")
        assert model_files.rebuild_command(tmp_path, "transfer") == f"python train_transfer.py --out {tmp_path}", card
    (tmp_path / "transfer.json").write_text('{"command": "python train_transfer.py --seed 3"}', encoding="utf-8")
    assert model_files.rebuild_command(tmp_path, "transfer") == f"python train_transfer.py --seed 3 --out {tmp_path}"
    # where the run wrote its files is no part of what rebuilds it: the rebuild writes where the model is read from
    (tmp_path / "transfer.json").write_text(
        '{"command": "python train_transfer.py --out /tmp/all --seed 3 --run-dir=/tmp/run --resume"}', encoding="utf-8"
    )
    assert model_files.rebuild_command(tmp_path, "transfer") == f"python train_transfer.py --seed 3 --out {tmp_path}"
    # the app's own folder is the scripts' default --out, so its rebuild needs none
    assert model_files.rebuild_command(model_files.DEFAULT_MODEL_DIR, "transfer") == "python train_transfer.py"
    spaced = tmp_path / "my models"
    assert model_files.rebuild_command(spaced, "transfer") == f"python train_transfer.py --out '{spaced}'"


def test_load_model_file_takes_any_predictor_and_an_optional_card(model_dir, tmp_path):
    path = tmp_path / "my model.pt"
    path.write_bytes((model_dir / "transfer.pt").read_bytes())
    bare = model_files.load_model_file(path)
    assert (bare.name, bare.card, bare.class_names) == ("my model", {}, CLASSES)
    for card, expected in [("{broken", {}), ("[1]", {}), ('{"kind": "transfer"}', {"kind": "transfer"})]:
        path.with_suffix(".json").write_text(card, encoding="utf-8")
        assert model_files.load_model_file(path).card == expected
    with pytest.raises(model_files.ModelFileError) as missing:
        model_files.load_model_file(tmp_path / "nothing.pt")
    assert str(missing.value) == f"Model file {tmp_path / 'nothing.pt'} is missing. Rebuild it with: python train_transfer.py --out <folder>"
