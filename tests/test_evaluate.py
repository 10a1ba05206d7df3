"""landmark_core/evaluate.py against hand-computed answers: fast (no app, no shared data, no real model).

The predictors here are tiny fakes that record what they are given, so each test checks one thing
evaluate.py decides: which photos count, how accuracy and the confusion matrix are tallied, how
percentiles are picked and rounded, and that warm-up runs are left out of the latency.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import pytest
import torch
from PIL import Image

from landmark_core import evaluate, images

CLASSES = ["00.Alpha", "01.Beta", "02.Gamma", "03.Delta"]

# Hand-made probabilities for 5 photos over 4 classes; the rows are ranked by hand in the comments.
PROBABILITIES = torch.tensor(
    [
        [0.70, 0.20, 0.05, 0.05],  # ranks 0, 1, {2,3}; label 0 -> top-1 right
        [0.10, 0.60, 0.25, 0.05],  # ranks 1, 2, 0;     label 2 -> top-1 wrong, top-3 right
        [0.05, 0.15, 0.30, 0.50],  # ranks 3, 2, 1;     label 0 -> wrong, not even top-3
        [0.40, 0.35, 0.15, 0.10],  # ranks 0, 1, 2;     label 1 -> wrong, top-3 right
        [0.10, 0.30, 0.55, 0.05],  # ranks 2, 1, 0;     label 2 -> right
    ]
)
LABELS = [0, 2, 0, 1, 2]


def test_accuracy_report_against_hand_counts():
    report = evaluate.accuracy_report(PROBABILITIES, LABELS, CLASSES)
    assert report["accuracy"] == 0.4  # photos 0 and 4 of 5
    assert report["top3_accuracy"] == 0.8  # all but photo 2
    # class 3 has no photos: it has no accuracy at all (not 0, not NaN)
    assert report["per_class_accuracy"] == {"00.Alpha": 0.5, "01.Beta": 0.0, "02.Gamma": 0.5}
    # rows: true class, columns: predicted class
    assert report["confusion_matrix"] == [
        [1, 0, 0, 1],
        [1, 0, 0, 0],
        [0, 1, 1, 0],
        [0, 0, 0, 0],
    ]
    assert list(report) == ["accuracy", "top3_accuracy", "per_class_accuracy", "confusion_matrix"]


def test_accuracy_report_counts_repeated_cells_and_rounds_to_4_decimals():
    # three photos of class 0, all predicted as 1: the same confusion cell three times (accumulate, not overwrite)
    probabilities = torch.tensor([[0.1, 0.9], [0.2, 0.8], [0.3, 0.7], [0.6, 0.4], [0.4, 0.6], [0.45, 0.55]])
    report = evaluate.accuracy_report(probabilities, [0, 0, 0, 0, 1, 1], ["a", "b"])
    assert report["confusion_matrix"] == [[1, 3], [0, 2]]
    assert report["accuracy"] == 0.5
    assert report["per_class_accuracy"] == {"a": 0.25, "b": 1.0}
    # fewer than 3 classes: top-3 is top-2, so every photo counts
    assert report["top3_accuracy"] == 1.0
    # thirds: 1/3 rounds to 0.3333, 2/3 to 0.6667
    report = evaluate.accuracy_report(torch.tensor([[0.9, 0.1], [0.8, 0.2], [0.1, 0.9]]), [0, 1, 1], ["a", "b"])
    assert report["accuracy"] == 0.6667
    assert report["per_class_accuracy"] == {"a": 1.0, "b": 0.5}
    report = evaluate.accuracy_report(torch.tensor([[0.9, 0.1], [0.8, 0.2], [0.7, 0.3]]), [0, 1, 1], ["a", "b"])
    assert report["accuracy"] == 0.3333
    assert report["per_class_accuracy"] == {"a": 1.0, "b": 0.0}


def test_per_class_and_top3_accuracy_are_rounded_to_4_decimals_too():
    # three photos of class 0: only the last has it first, and the other two do not have it in their top 3
    probabilities = torch.tensor([[0.1, 0.2, 0.3, 0.4], [0.1, 0.2, 0.3, 0.4], [0.4, 0.3, 0.2, 0.1]])
    report = evaluate.accuracy_report(probabilities, [0, 0, 0], CLASSES)
    assert report["accuracy"] == 0.3333
    assert report["top3_accuracy"] == 0.3333
    assert report["per_class_accuracy"] == {"00.Alpha": 0.3333}


def test_top3_is_exactly_the_three_best():
    # the label is the 4th best for photo 0 and the 3rd best for photo 1: only photo 1 counts
    probabilities = torch.tensor([[0.4, 0.3, 0.2, 0.1], [0.4, 0.3, 0.2, 0.1]])
    report = evaluate.accuracy_report(probabilities, [3, 2], CLASSES)
    assert report["top3_accuracy"] == 0.5
    assert report["accuracy"] == 0.0
    # one class: top-1 and top-3 are the same single guess
    report = evaluate.accuracy_report(torch.ones(2, 1), [0, 0], ["only"])
    assert report == {"accuracy": 1.0, "top3_accuracy": 1.0, "per_class_accuracy": {"only": 1.0}, "confusion_matrix": [[2]]}


@pytest.mark.parametrize(
    ("timings", "p50", "p95"),
    [
        ([5.0], 5.0, 5.0),
        ([3.0, 1.0], 2.0, 1.0),  # median of an even count is the mean of the middle two; p95 index int(0.95) = 0
        ([4.0, 1.0, 3.0, 2.0], 2.5, 3.0),  # index int(0.95 * 3) = 2 of the sorted list
        (list(range(1, 22)), 11.0, 20.0),  # index int(0.95 * 20) = 19 -> 20, not the maximum 21
        ([float(v) for v in range(100, 0, -1)], 50.5, 95.0),  # unsorted in: index int(0.95 * 99) = 94 -> 95
        ([1.234, 1.236, 9.999], 1.24, 1.24),  # rounded to 0.01; index int(1.9) = 1
    ],
)
def test_percentiles_against_hand_picked_ranks(timings, p50, p95):
    assert evaluate.percentiles(timings) == {"p50": p50, "p95": p95}


def test_percentiles_round_to_two_decimals():
    assert evaluate.percentiles([1.23456]) == {"p50": 1.23, "p95": 1.23}
    assert evaluate.percentiles([2.0, 2.005, 2.0049]) == {"p50": round(2.0049, 2), "p95": round(2.0049, 2)}


class FakePredictor(torch.nn.Module):
    """Answers photo k (its mean pixel value tells which) with a one-hot on class k % C and score k / 10."""

    def __init__(self, classes: int = 3, resize_size: int = 8):
        super().__init__()
        self.class_names = [f"{i:02d}.Class_{i}" for i in range(classes)]
        self.resize_size = resize_size
        self.seen: list[torch.Tensor] = []
        self.calls = 0

    def classify(self, batch: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        self.seen.append(batch)
        k = int(batch.float().mean().round().item())
        probabilities = torch.zeros(1, len(self.class_names))
        probabilities[0, k % len(self.class_names)] = 1.0
        return probabilities, torch.tensor([k / 10])

    def forward(self, batch: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        self.seen.append(batch)
        return torch.zeros(1, len(self.class_names))


def flat_image(value: int, size: tuple[int, int] = (20, 12)) -> torch.Tensor:
    return torch.full((3, size[1], size[0]), value, dtype=torch.uint8)


def test_predict_images_stacks_one_row_per_photo_in_order():
    predictor = FakePredictor(classes=3)
    probabilities, scores = evaluate.predict_images(predictor, (flat_image(k) for k in (1, 2, 4, 0)), total=4)
    assert probabilities.shape == (4, 3) and scores.shape == (4,)
    assert probabilities.argmax(1).tolist() == [1, 2, 1, 0]
    assert scores.tolist() == pytest.approx([0.1, 0.2, 0.4, 0.0])
    # each photo goes in alone, as a batch of one, unchanged
    assert [tuple(batch.shape) for batch in predictor.seen] == [(1, 3, 12, 20)] * 4
    assert torch.equal(predictor.seen[2][0], flat_image(4))


def test_predict_images_of_nothing_is_empty_with_the_right_shapes():
    predictor = FakePredictor(classes=5)
    probabilities, scores = evaluate.predict_images(predictor, iter([]))
    assert probabilities.shape == (0, 5) and scores.shape == (0,)
    assert probabilities.dtype == torch.float32 and scores.dtype == torch.float32
    probabilities, scores = evaluate.predict_files(predictor, [])
    assert probabilities.shape == (0, 5) and scores.shape == (0,)
    assert predictor.seen == []


def save_flat_photo(path: Path, value: int, size: tuple[int, int]) -> Path:
    Image.new("RGB", size, (value, value, value)).save(path)
    return path


def test_predict_files_decodes_each_file_as_the_app_does(tmp_path):
    predictor = FakePredictor(classes=4, resize_size=8)
    files = [save_flat_photo(tmp_path / f"{k}.png", k, (30, 16)) for k in (3, 1, 2)]
    probabilities, scores = evaluate.predict_files(predictor, files)
    assert probabilities.argmax(1).tolist() == [3, 1, 2]
    assert scores.tolist() == pytest.approx([0.3, 0.1, 0.2])
    for file, batch in zip(files, predictor.seen):
        assert torch.equal(batch[0], images.load_tensor(file, 8))


@pytest.fixture
def short_sides_asked(monkeypatch) -> list:
    """Every short side images.load_tensor is asked to decode at, in order."""
    asked = []
    real = images.load_tensor

    def spy(source, min_short_side=None):
        asked.append(min_short_side)
        return real(source, min_short_side)

    monkeypatch.setattr(images, "load_tensor", spy)
    return asked


def test_predict_files_asks_for_the_predictors_resize_size(tmp_path, short_sides_asked):
    predictor = FakePredictor(classes=2, resize_size=37)
    evaluate.predict_files(predictor, [save_flat_photo(tmp_path / "a.png", 1, (10, 10))])
    assert short_sides_asked == [37]


def predictor_on_a_fake_clock(monkeypatch, run_seconds: Callable[[int], float], resize_size: int = 8) -> FakePredictor:
    """A FakePredictor whose n-th run (from 1) takes `run_seconds(n)` on evaluate's clock, which moves only then."""
    predictor = FakePredictor(classes=2, resize_size=resize_size)
    now = [0.0]
    monkeypatch.setattr(evaluate.time, "perf_counter", lambda: now[0])
    answer = predictor.forward  # counts the run and records its batch

    def forward(batch):
        result = answer(batch)
        now[0] += run_seconds(predictor.calls)
        return result

    predictor.forward = forward
    return predictor


def test_latency_leaves_the_warmup_runs_out(tmp_path, monkeypatch):
    # the n-th timed run takes n ms and each warm-up run 1000 ms: a warm-up that slipped into the timings would
    # show as a 1000+ ms run
    photo = save_flat_photo(tmp_path / "p.png", 7, (12, 12))
    predictor = predictor_on_a_fake_clock(monkeypatch, lambda run: (run - 3) / 1000 if run > 3 else 1.0)
    result = evaluate.latency_ms(predictor, photo, repeats=4, warmup=3)
    assert predictor.calls == 7  # 3 warm-up + 4 timed
    # the timed runs take 1, 2, 3, 4 ms: p50 = 2.5, p95 = sorted[int(0.95 * 3)] = 3
    assert result == {"p50": 2.5, "p95": 3.0}
    assert all(torch.equal(batch, images.load_tensor(photo, 8)[None]) for batch in predictor.seen)


def test_latency_defaults_are_5_warmup_and_30_timed_runs(tmp_path, monkeypatch):
    photo = save_flat_photo(tmp_path / "p.png", 7, (12, 12))
    predictor = predictor_on_a_fake_clock(monkeypatch, lambda run: run / 1000)  # run n takes n ms
    result = evaluate.latency_ms(predictor, photo)
    assert predictor.calls == 35
    # timed runs take 6..35 ms: median (20 + 21) / 2, p95 = sorted[int(0.95 * 29)] = sorted[27] = 33
    assert result == {"p50": 20.5, "p95": 33.0}


def test_latency_is_in_milliseconds(tmp_path, monkeypatch):
    photo = save_flat_photo(tmp_path / "p.png", 7, (12, 12))
    predictor = predictor_on_a_fake_clock(monkeypatch, lambda run: 0.25)  # a quarter of a second per run
    assert evaluate.latency_ms(predictor, photo, repeats=2, warmup=0) == {"p50": 250.0, "p95": 250.0}


def test_latency_decodes_at_the_predictors_resize_size(tmp_path, short_sides_asked):
    # the short side asked for changes how a JPEG is decoded, so the timed decode must ask what the app asks
    predictor = FakePredictor(classes=2, resize_size=37)
    evaluate.latency_ms(predictor, save_flat_photo(tmp_path / "p.png", 1, (10, 10)), repeats=2, warmup=1)
    assert short_sides_asked == [37, 37, 37]
