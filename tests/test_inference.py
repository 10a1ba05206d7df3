"""landmark_core.inference with tiny random-weight models made per test, and synthetic photos (never real files)."""

from __future__ import annotations

import io
import json
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from conftest import synthetic_photo
from landmark_core import images, inference, teaching
from landmark_core.models import ScratchCNN
from landmark_core.predictor import Predictor, export_predictor

CLASSES = ["Eiffel Tower", "Taj Mahal", "Stonehenge", "Machu Picchu"]


def write_model(folder: Path, name: str, classes=CLASSES, threshold: float = 0.0, seed: int = 0) -> Path:
    """A small random-weight predictor with the shipped contract, plus a model card like the real one."""
    torch.manual_seed(seed)
    network = ScratchCNN(len(classes), widths=(8, 8, 16, 16, 16))
    predictor = Predictor(
        network, classes, mean=[0.5, 0.45, 0.4], std=[0.25, 0.25, 0.25], resize_size=73, crop_size=64, unknown_threshold=threshold
    )
    export_predictor(predictor, folder / f"{name}.pt")
    card = {
        "name": name,
        "kind": name,
        "architecture": "ScratchCNN (test fixture)" if name == "scratch" else "efficientnet_lite0 (test fixture)",
        "classes": list(classes),
        "test_accuracy": 0.5 if name == "scratch" else 0.9,
        "top3_accuracy": 0.8,
        "per_class_accuracy": {label: 0.5 for label in classes},
        "unknown_threshold": threshold,
        "n_train": 10,
        "n_valid": 2,
        "n_test": 4,
        "trained_on": "random weights made by a test fixture",
        "epochs": 0,
        "seed": seed,
        "command": f"python train_{name}.py --epochs 1",
        "train_seconds": 0.0,
        "latency_ms_p50": 1.0,
        "latency_ms_p95": 2.0,
        "latency_measured_as": "not measured",
        "params": 1,
        "file_bytes": (folder / f"{name}.pt").stat().st_size,
        "created": "2026-01-01T00:00:00+00:00",
    }
    (folder / f"{name}.json").write_text(json.dumps(card), encoding="utf-8")
    return folder / f"{name}.pt"


def write_teaching_features(model_path: Path, photos_per_class: int = 30) -> Path:
    """The features file train_transfer.py writes beside transfer.pt, made from synthetic photos (classes 0-3
    as the landmarks, 8 and 9 as "none of these") with the fixture model's own backbone."""
    predictor = torch.jit.load(str(model_path))
    known = len(predictor.class_names)

    def rows(labels: list[int], seed: int) -> tuple[torch.Tensor, torch.Tensor]:
        photos = [images.to_uint8_tensor(synthetic_photo(label, seed=seed + i, size=(96, 80))) for label in labels for i in range(photos_per_class)]
        with torch.inference_mode():
            features = torch.cat([predictor.pooled(photo[None]) for photo in photos])
        return features, torch.tensor([min(label, known) for label in labels for _ in range(photos_per_class)])

    train_features, train_labels = rows([*range(known), 8, 9], seed=500)
    valid_features, valid_labels = rows([*range(known), 8], seed=900)
    card = json.loads(model_path.with_suffix(".json").read_text())
    path = teaching.features_path(model_path)
    teaching.save_training_features(
        path,
        teaching.TrainingFeatures(
            class_names=card["classes"], train_features=train_features, train_labels=train_labels, plain_rows=len(train_labels),
            valid_features=valid_features, valid_labels=valid_labels, accept=0.95, mean=[0.5, 0.45, 0.4], std=[0.25, 0.25, 0.25],
        ),
    )
    return path


def make_model_dir(folder: Path, threshold: float = 0.0) -> Path:
    """Both slots filled (the transfer slot by a second small model with the same contract), and the features
    teaching needs beside the transfer model."""
    folder.mkdir(parents=True, exist_ok=True)
    write_model(folder, "scratch", threshold=threshold, seed=0)
    write_teaching_features(write_model(folder, "transfer", threshold=threshold, seed=1))
    return folder


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory) -> Path:
    return make_model_dir(tmp_path_factory.mktemp("models"))


@pytest.fixture(scope="module")
def model(model_dir) -> inference.LoadedModel:
    return inference.load_model(model_dir, "scratch")


def jpeg_bytes(image: Image.Image, **save) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", **save)
    return buffer.getvalue()


def test_load_model_reads_predictor_and_card(model):
    assert model.name == "scratch"
    assert model.class_names == CLASSES
    assert model.card["test_accuracy"] == 0.5
    assert model.command == "python train_scratch.py --epochs 1"
    assert model.title == "Scratch (ScratchCNN)"


def test_title_names_the_transfer_backbone(model_dir):
    assert inference.load_model(model_dir, "transfer").title == "Transfer (EfficientNet-Lite0)"


def test_predict_top_k_is_sorted_labelled_and_placed(model, tmp_path):
    path = tmp_path / "photo.jpg"
    synthetic_photo(1, seed=3, size=(120, 90)).save(path)
    result = inference.predict(model, path, k=3)
    assert [guess["label"] for guess in result.top] == [CLASSES[guess["index"]] for guess in result.top]
    probabilities = [guess["probability"] for guess in result.top]
    assert len(probabilities) == 3 and probabilities == sorted(probabilities, reverse=True)
    assert all(0 <= p <= 1 for p in probabilities)
    assert result.milliseconds > 0 and result.model == "scratch"
    eiffel = {"label": "Eiffel Tower"}
    for guess in result.top:
        if guess["label"] == eiffel["label"]:
            assert guess["place"]["country"] == "France" and "openstreetmap.org" in guess["place"]["map_url"]
    # What the API returns must survive a JSON round trip unchanged.
    assert json.loads(json.dumps(result.to_json())) == result.to_json()


def test_k_is_clamped_to_the_classes_the_model_knows(model):
    photo = jpeg_bytes(synthetic_photo(0, seed=1))
    assert len(inference.predict(model, photo, k=99).top) == len(CLASSES)
    assert len(inference.predict(model, photo, k=0).top) == 1
    assert inference.clamp_k(model, "not a number") == 5 - 1  # default 5, clamped to 4 classes


def test_probabilities_over_all_classes_sum_to_one(model):
    result = inference.predict(model, synthetic_photo(2, seed=5), k=len(CLASSES))
    assert sum(guess["probability"] for guess in result.top) == pytest.approx(1.0, abs=1e-4)


def test_low_confidence_is_unknown(tmp_path):
    write_model(tmp_path, "scratch", threshold=0.99)
    unsure = inference.load_model(tmp_path, "scratch")
    result = inference.predict(unsure, synthetic_photo(0, seed=2), k=2)
    assert result.is_unknown and result.unknown_threshold == 0.99


@pytest.mark.parametrize(
    "content, message",
    [
        (b"this is a text file, not a photo", "not an image"),
        (b"", "empty"),
    ],
)
def test_bad_bytes_raise_image_error_with_a_message(model, tmp_path, content, message):
    path = tmp_path / "photo.jpg"
    path.write_bytes(content)
    with pytest.raises(images.ImageError, match=message):
        inference.predict(model, path)


def test_huge_image_is_refused_before_decoding(model):
    """A tiny PNG whose header claims 20000x20000 pixels: a decompression bomb, refused with a message."""
    buffer = io.BytesIO()
    Image.new("RGB", (1, 1)).save(buffer, "PNG")
    data = bytearray(buffer.getvalue())
    struct.pack_into(">II", data, 16, 20000, 20000)  # IHDR width, height
    struct.pack_into(">I", data, 29, zlib.crc32(data[12:29]))  # IHDR checksum
    with pytest.raises(images.ImageError, match="too large|megapixels"):
        inference.predict(model, bytes(data))


def test_truncated_jpeg_raises_image_error(model):
    whole = jpeg_bytes(synthetic_photo(1, seed=4, size=(200, 150)))
    with pytest.raises(images.ImageError, match="truncated|corrupt|could not be read"):
        inference.predict(model, whole[: len(whole) // 2])


@pytest.mark.parametrize("mode", ["CMYK", "I;16", "P", "RGBA", "LA"])
def test_unusual_image_modes_are_classified(model, tmp_path, mode):
    image = synthetic_photo(2, seed=6)
    if mode == "I;16":
        image = Image.fromarray(np.asarray(image.convert("L"), dtype=np.uint16) * 257)
        assert image.mode == "I;16"
        path = tmp_path / "deep.png"
    else:
        image = image.convert(mode)
        path = tmp_path / ("photo.jpg" if mode == "CMYK" else "photo.png")
    image.save(path)
    assert len(inference.predict(model, path, k=2).top) == 2


def test_heatmap_overlay_keeps_size_and_marks_the_crop(model):
    image = synthetic_photo(0, seed=7, size=(160, 100))
    overlay = inference.heatmap_overlay(model, image, class_index=1)
    assert overlay.size == image.size and overlay.mode == "RGB"
    pixels = np.asarray(overlay, dtype=np.float32)
    top, left, height, width = model.predictor.crop_box(100, 160)
    outside = np.concatenate([pixels[:, : left - 1].ravel(), pixels[:, left + width + 1 :].ravel()])
    original = np.asarray(image, dtype=np.float32)
    # Outside the crop the photo is dimmed; inside, the colour map is blended in.
    assert outside.mean() < 0.5 * original[:, : left - 1].mean() + 1
    assert not np.allclose(pixels[top + 3 : top + height - 3, left + 3 : left + width - 3], original[top + 3 : top + height - 3, left + 3 : left + width - 3], atol=8)


def test_display_image_is_upright_and_screen_sized(tmp_path):
    big = synthetic_photo(1, seed=8, size=(1600, 900))
    exif = Image.Exif()
    exif[0x0112] = 8  # rotate 270 on display: the landscape file shows as portrait
    big.save(tmp_path / "big.jpg", exif=exif.tobytes())
    shown = inference.display_image(tmp_path / "big.jpg")
    assert max(shown.size) == inference.HEATMAP_MAX_SIDE and shown.size[1] > shown.size[0]


def test_missing_model_names_the_file_and_the_command(tmp_path):
    with pytest.raises(inference.ModelFileError, match=r"transfer\.pt is missing.*python train_transfer\.py"):
        inference.load_model(tmp_path, "transfer")


def test_truncated_model_is_reported_with_the_cards_command(model_dir, tmp_path):
    data = (model_dir / "scratch.pt").read_bytes()
    (tmp_path / "scratch.pt").write_bytes(data[: len(data) // 3])
    (tmp_path / "scratch.json").write_text((model_dir / "scratch.json").read_text())
    with pytest.raises(inference.ModelFileError, match=r"scratch\.pt is corrupt or truncated.*python train_scratch\.py --epochs 1"):
        inference.load_model(tmp_path, "scratch")


def test_garbage_model_and_missing_card_are_reported(model_dir, tmp_path):
    (tmp_path / "scratch.pt").write_bytes(b"PK\x03\x04 definitely not a torchscript archive")
    with pytest.raises(inference.ModelFileError, match="corrupt or truncated"):
        inference.load_model(tmp_path, "scratch")
    (tmp_path / "scratch.pt").write_bytes((model_dir / "scratch.pt").read_bytes())
    with pytest.raises(inference.ModelFileError, match=r"scratch\.json is missing"):
        inference.load_model(tmp_path, "scratch")


def test_only_the_two_model_names_are_loadable(model_dir):
    with pytest.raises(ValueError):
        inference.load_model(model_dir, "../models/scratch")


def test_warm_up_runs_both_exported_methods(model):
    inference.warm_up(model)
