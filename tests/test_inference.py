"""landmark_core.inference with tiny random-weight models made per test, and synthetic photos (never real files)."""

from __future__ import annotations

import io
import json
import struct
import zlib
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from PIL import Image

from conftest import synthetic_photo
from landmark_core import images, inference, model_files
from tiny_models import CLASSES, write_model


def jpeg_bytes(image: Image.Image, **save) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", **save)
    return buffer.getvalue()


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
    unsure = model_files.load_model(tmp_path, "scratch")
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


def test_warm_up_runs_both_exported_methods(model):
    inference.warm_up(model)


# ---- The decision, the answer's shape and the error messages, against hand-computed answers (mutation testing,
# docs/mutation_testing.md). A stand-in predictor carries only what `predictions` and `clamp_k` read.


def stand_in(classes=CLASSES, threshold: float = 0.5, name: str = "scratch") -> model_files.LoadedModel:
    return model_files.LoadedModel(name, SimpleNamespace(class_names=list(classes), unknown_threshold=threshold), {})


EIFFEL_PLACE = {
    "name": "Eiffel Tower",
    "region": "Paris",
    "country": "France",
    "latitude": 48.8584,
    "longitude": 2.2945,
    "map_url": "https://www.openstreetmap.org/?mlat=48.8584&mlon=2.2945#map=15/48.8584/2.2945",
}


def test_predictions_against_a_hand_computed_answer():
    probabilities = torch.tensor([[0.12345678, 0.5, 0.25, 0.12654322], [0.7, 0.1, 0.15, 0.05]], dtype=torch.float64)
    known_scores = torch.tensor([0.87654321, 0.2], dtype=torch.float64)
    first, second = inference.predictions(stand_in(threshold=0.5), probabilities, known_scores, k=3, milliseconds=12.3456)
    assert first.to_json() == {
        "model": "scratch",
        "top": [
            {"label": "Taj Mahal", "probability": 0.5, "index": 1, "place": inference._place_json("Taj Mahal")},
            {"label": "Stonehenge", "probability": 0.25, "index": 2, "place": inference._place_json("Stonehenge")},
            {"label": "Machu Picchu", "probability": 0.126543, "index": 3, "place": inference._place_json("Machu Picchu")},
        ],
        "is_unknown": False,
        "known_score": 0.876543,  # rounded to 6 decimals, as is every probability
        "unknown_threshold": 0.5,
        "milliseconds": 12.35,  # rounded to 2
    }
    assert [guess["index"] for guess in second.top] == [0, 2, 1] and second.top[0]["place"] == EIFFEL_PLACE
    assert second.is_unknown and second.known_score == 0.2 and second.best is second.top[0]
    lone = inference.predictions(stand_in(), torch.tensor([[0.12345678, 0.0, 0.0, 0.0]]), torch.tensor([0.9]), k=1, milliseconds=1.0)[0]
    assert lone.top[0]["probability"] == 0.123457 and lone.milliseconds == 1.0


@pytest.mark.parametrize(
    "score, threshold, unknown",
    [
        (0.5, 0.5, False), (0.499999, 0.5, True), (0.500001, 0.5, False), (0.0, 0.0, False), (0.3, 0.3, False), (0.2999994, 0.3, True),
        (0.2999999, 0.3, True),  # rounds to 0.3 in the answer, and is still below the threshold
    ],
)
def test_a_known_score_exactly_at_the_threshold_is_accepted(score, threshold, unknown):
    """`is_unknown` is `known_score < unknown_threshold` on the raw score (the answer shows it rounded to 6 decimals)."""
    answer = inference.predictions(stand_in(threshold=threshold), torch.tensor([[0.4, 0.3, 0.2, 0.1]], dtype=torch.float64), torch.tensor([score], dtype=torch.float64), k=1, milliseconds=0.0)[0]
    assert answer.is_unknown is unknown and answer.unknown_threshold == threshold


def test_the_decision_is_torch_alones_on_a_float32_score():
    threshold = float(np.float32(0.123456789))  # what a predictor's float32 calibration stores
    score = torch.tensor([0.12345678], dtype=torch.float32)
    torch_alone = bool((score < threshold).item())
    answer = inference.predictions(stand_in(threshold=threshold), torch.tensor([[0.4, 0.3, 0.2, 0.1]]), score, k=1, milliseconds=0.0)[0]
    assert answer.is_unknown is torch_alone is True and answer.known_score == 0.123457


def test_the_place_of_a_landmark_and_of_a_label_without_one():
    assert inference._place_json("Eiffel Tower") == EIFFEL_PLACE
    assert inference._place_json("Somewhere Else Entirely") is None
    answer = inference.predictions(stand_in(["Somewhere Else Entirely", "Eiffel Tower"]), torch.tensor([[0.6, 0.4]]), torch.tensor([1.0]), k=2, milliseconds=0.0)[0]
    assert [guess["place"] for guess in answer.top] == [None, EIFFEL_PLACE]


@pytest.mark.parametrize(
    "k, expected",
    [(None, 5), ("not a number", 5), ("", 5), (3, 3), ("3", 3), (3.6, 4), ("2.4", 2), (0, 1), (-7, 1), (8, 8), (99, 8), (float("nan"), 5)],
)
def test_clamp_k_against_hand_picked_values(k, expected):
    """Anything unreadable is 5; then 1..number of classes (8 here, so the default 5 is not clamped)."""
    assert inference.clamp_k(stand_in([f"class {i}" for i in range(8)]), k) == expected


def test_predict_defaults_to_the_top_5(tmp_path):
    eight = [f"class {i}" for i in range(8)]
    write_model(tmp_path, "scratch", classes=eight)
    assert len(inference.predict(model_files.load_model(tmp_path, "scratch"), synthetic_photo(0, seed=2)).top) == 5


def test_predict_decodes_at_the_models_resize_size_and_times_in_milliseconds(model, monkeypatch):
    asked = []
    load_tensor = images.load_tensor

    def recording(source, *args, **kwargs):
        asked.append((args, kwargs))
        return load_tensor(source, *args, **kwargs)

    clock = [10.0, 10.25]  # a fake clock: the photo takes 250 ms
    monkeypatch.setattr(images, "load_tensor", recording)
    monkeypatch.setattr(inference.time, "perf_counter", lambda: clock.pop(0) if clock else 99.0)
    answer = inference.predict(model, synthetic_photo(1, seed=3))
    assert asked == [((73,), {})] and answer.milliseconds == 250.0


def test_display_image_decodes_at_half_the_side_and_shrinks_bilinearly(tmp_path, monkeypatch):
    photo = synthetic_photo(2, seed=9, size=(1000, 700))
    photo.save(tmp_path / "photo.png")
    expected = photo.copy()
    expected.thumbnail((inference.HEATMAP_MAX_SIDE, inference.HEATMAP_MAX_SIDE), Image.Resampling.BILINEAR)
    asked = []
    load_rgb = images.load_rgb

    def recording(source, **kwargs):
        asked.append(kwargs)
        return load_rgb(source, **kwargs)

    monkeypatch.setattr(images, "load_rgb", recording)
    shown = inference.display_image(tmp_path / "photo.png")
    assert asked == [{"min_short_side": 320}] and type(asked[0]["min_short_side"]) is int
    assert shown.size == (640, 448) and np.array_equal(np.asarray(shown), np.asarray(expected))


def test_heatmap_overlay_against_hand_computed_pixels():
    """A stand-in predictor whose activation map is 2 (hot, clamped to 1) on the box's top half and -1 (cold,
    clamped to 0) on its bottom half, on a plain grey 100 photo. Outside the box: 100 * 0.35 = 35. Hot: weight
    0.55, jet(1) = (0.5, 0, 0): red 0.45 * 100 + 0.55 * 127.5 = 115.1, green and blue 45. Cold: weight
    0.55 * 0.35 = 0.1925, jet(0) = (0, 0, 0.5): 0.8075 * 100 = 80.75 -> 81, blue 80.75 + 24.5 = 105.3 -> 105.
    The box's edge, 2 pixels wide, is white."""
    top, left, box_height, box_width = 2, 3, 8, 10
    cam = torch.cat([torch.full((4, box_width), 2.0), torch.full((4, box_width), -1.0)])
    calls = []

    def activation_map(tensor, class_index):
        calls.append(("map", tensor.dtype, tuple(tensor.shape), class_index))
        return cam[None].to(torch.float16)

    def crop_box(height, width):
        calls.append(("box", height, width))
        return torch.tensor([top, left, box_height, box_width])

    model = model_files.LoadedModel("scratch", SimpleNamespace(activation_map=activation_map, crop_box=crop_box), {})
    overlay = inference.heatmap_overlay(model, Image.new("L", (20, 14), 100), class_index=np.int64(2))
    assert calls == [("map", torch.uint8, (1, 3, 14, 20), 2), ("box", 14, 20)] and type(calls[0][3]) is int
    pixels = np.asarray(overlay).astype(int)
    assert overlay.mode == "RGB" and overlay.size == (20, 14)
    assert (pixels[:top] == 35).all() and (pixels[:, :left] == 35).all() and (pixels[top + box_height :] == 35).all()
    assert (pixels[:, left + box_width :] == 35).all()
    assert (pixels[4:6, 5:11] == [115, 45, 45]).all()  # hot
    assert (pixels[6:8, 5:11] == [81, 81, 105]).all()  # cold
    for edge in (pixels[2:4, 3:13], pixels[8:10, 3:13], pixels[2:10, 3:5], pixels[2:10, 11:13]):
        assert (edge == 255).all()
    assert (np.asarray(inference.heatmap_overlay(model, Image.new("L", (20, 14), 100), 2, alpha=1.0))[4, 5] == [128, 0, 0]).all()


def test_the_heatmap_is_stretched_over_the_crop_without_aligning_corners():
    """A 1 x 2 activation map [0, 1] stretched to an 8 x 8 box: bilinear with align_corners=False reads column i at
    (i + 0.5) / 4 - 0.5, so columns 2-5 get 0.125, 0.375, 0.625, 0.875 (aligned corners would give i / 7)."""
    top, left, size = 1, 1, 8

    def activation_map(tensor, class_index):
        return torch.tensor([[[0.0, 1.0]]])

    model = model_files.LoadedModel(
        "scratch", SimpleNamespace(activation_map=activation_map, crop_box=lambda height, width: [top, left, size, size]), {}
    )
    pixels = np.asarray(inference.heatmap_overlay(model, Image.new("L", (10, 10), 100), 0)).astype(int)
    jet = inference.colormaps["jet"]
    for column, cam in zip(range(2, 6), [0.125, 0.375, 0.625, 0.875]):
        weight = 0.55 * (0.35 + 0.65 * cam)
        expected = np.floor((1 - weight) * 100 + weight * np.asarray(jet(cam)[:3]) * 255 + 0.5)
        assert (np.abs(pixels[top + 2 : top + size - 2, left + column] - expected) <= 1).all(), column
