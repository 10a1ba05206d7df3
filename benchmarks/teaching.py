"""Teaching a landmark (landmark_core.teaching) to the shipped transfer model, measured in this run.

    time     seconds from decoded photos to a usable scripted model (`teach`: features of every view, the check
             head, the final head, scripting) for 10 and 50 photos, at the app's one torch thread per request
    known    leave-landmark-out: each landmark the model knows is taught back into a head retrained without it
             (`TrainingFeatures.without`), from 5 / 10 / 20 of its training photos (never its validation or test
             photos); reported: its test photos answered right (top-1) and right-and-accepted, the other landmarks'
             test accuracy and the held-out other landmarks' rejection, before -> after teaching
    other    each held-out other landmark (the open-set split's never-seen ones) taught from 10 of its photos and
             tested on the rest; the rejection is measured on the other held-out landmarks
    cap      how TAUGHT_WEIGHT_CAP was chosen, on validation photos only: the leave-landmark-out at 10 photos for
             several caps, measured on the landmark's validation photos, the others' validation photos and the
             validation other landmarks (full mode)

Test photos go through the backbone once (their pooled features); each head is then applied to them, exactly as
the taught predictor computes (teaching.Head).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Sequence

import torch
from torch import Tensor

from benchmarks.measuring import log
from benchmarks.modes import Mode
from landmark_core import data, images, model_files, openset, teaching
from landmark_core.negatives import landmark_files, list_landmarks, split_landmarks
from landmark_core.places import display_name

TIMED_PHOTOS = (10, 50)
OTHER_TEACH_PHOTOS = 10
APP_THREADS = 1  # app.py's THREADS_PER_PREDICTION: what a visitor's teaching runs on


def decode(model: model_files.LoadedModel, files: Sequence[Path]) -> list[Tensor]:
    return [images.load_tensor(file, model.predictor.resize_size) for file in files]


@torch.inference_mode()
def pooled(model: model_files.LoadedModel, files: Sequence[Path]) -> Tensor:
    return torch.cat([model.predictor.pooled(photo[None]) for photo in decode(model, files)]) if files else torch.zeros(0)


def training_photos(data_dir: Path, class_names: list[str], seed: int = 0) -> dict[str, list[Path]]:
    """Each landmark's training photos as train_transfer.py split them (its validation photos left out)."""
    train = data.find_images(data_dir, "train")
    train_indices, _ = data.stratified_split(train.labels, data.VALID_FRACTION, seed)
    by_name: dict[str, list[Path]] = {name: [] for name in class_names}
    for index in train_indices:
        name = display_name(train.class_folders[train.labels[index]])
        if name in by_name:
            by_name[name].append(train.files[index])
    return by_name


def pick(files: list[Path], count: int, seed: int) -> list[Path]:
    order = torch.randperm(len(files), generator=torch.Generator().manual_seed(seed)).tolist()
    return [files[i] for i in order[:count]]


def outcome(head: teaching.Head, test: Tensor, test_labels: Tensor, unknown: Tensor, taught: Tensor | None) -> dict:
    """The other landmarks' test accuracy, unknown photos rejected, and (when given) the taught landmark's photos
    answered right and right-and-accepted; `test_labels` index the head's landmarks."""
    probabilities, scores = head.scores(test)
    result = {
        "others_accuracy": round((probabilities.argmax(1) == test_labels).float().mean().item(), 4),
        "unknown_rejected": openset.rejected(head.scores(unknown)[1], head.threshold),
    }
    if taught is not None:
        probabilities, scores = head.scores(taught)
        right = probabilities.argmax(1) == head.num_known - 1
        result["taught_accuracy"] = round(right.float().mean().item(), 4)
        result["taught_right_and_accepted"] = round((right & (scores >= head.threshold)).float().mean().item(), 4)
    return result


def teach_back(model, features, known_photos, test_features, test_names, unknown, sizes: Sequence[int]) -> list[dict]:
    """The `known` measurement: every landmark taught back into the head that never saw it."""
    rows = []
    for label, name in enumerate(features.class_names):
        without = features.without(name)
        others = torch.tensor([n != name for n in test_names])
        other_labels = torch.tensor([without.class_names.index(n) for n in test_names if n != name])
        taught_test = test_features[~others]
        before = outcome(teaching.fit_head(without), test_features[others], other_labels, unknown, None)
        for count in sizes:
            photos = decode(model, pick(known_photos[name], count, seed=label))  # nested: 5 of the 10 of the 20
            if len(photos) < teaching.MIN_PHOTOS:
                continue
            taught = teaching.teach(model.predictor, model.card, without, name, photos)
            after = outcome(taught.head, test_features[others], other_labels, unknown, taught_test)
            rows.append({"landmark": name, "photos": len(photos), "before": before, "after": after, "test_photos": len(taught_test)})
            log(f"teaching: {name} from {len(photos)} photos -> {after}")
    return rows


def curve(rows: list[dict]) -> list[dict]:
    """Averages over landmarks per number of photos: the curve the README shows."""
    points = []
    for count in sorted({row["photos"] for row in rows}):
        chosen = [row for row in rows if row["photos"] == count]

        def mean(side: str, key: str) -> float:
            return round(sum(row[side][key] for row in chosen) / len(chosen), 4)

        points.append({
            "photos": count,
            "landmarks": len(chosen),
            "taught_accuracy": mean("after", "taught_accuracy"),
            "taught_right_and_accepted": mean("after", "taught_right_and_accepted"),
            "others_accuracy_drop": round(mean("before", "others_accuracy") - mean("after", "others_accuracy"), 4),
            "unknown_rejected_drop": round(mean("before", "unknown_rejected") - mean("after", "unknown_rejected"), 4),
        })
    return points


def teach_others(model, features, negatives_dir: Path, held_out: list[str], test_features, test_labels) -> list[dict]:
    """The `other` measurement: held-out other landmarks taught from a few of their photos, tested on the rest."""
    before_head = teaching.fit_head(features)
    rows = []
    for index, landmark in enumerate(held_out):
        files = landmark_files(negatives_dir, [landmark])
        if len(files) < OTHER_TEACH_PHOTOS + 1:
            continue
        chosen = pick(files, len(files), seed=index)
        teach_files, test_files = chosen[:OTHER_TEACH_PHOTOS], chosen[OTHER_TEACH_PHOTOS:]
        unknown = pooled(model, landmark_files(negatives_dir, [other for other in held_out if other != landmark]))
        taught = teaching.teach(model.predictor, model.card, features, display_name(landmark), decode(model, teach_files))
        rows.append({
            "landmark": landmark,
            "photos": len(teach_files),
            "test_photos": len(test_files),
            "before": outcome(before_head, test_features, test_labels, unknown, None),
            "after": outcome(taught.head, test_features, test_labels, unknown, pooled(model, test_files)),
        })
        log(f"teaching: {landmark} from {len(teach_files)} photos -> {rows[-1]['after']}")
    return rows


WEIGHT_CAPS = (1.5, 2.0, 2.5, 3.0, 4.0)


def cap_sweep(model, features, known_photos, count: int = 10) -> list[dict]:
    """The `cap` measurement: the same leave-landmark-out at `count` photos, on validation photos only."""
    known = features.valid_labels < features.num_known
    per_cap: dict[float, list[dict]] = {cap: [] for cap in WEIGHT_CAPS}
    for label, name in enumerate(features.class_names):
        without = features.without(name)
        valid_known = without.valid_labels < without.num_known
        others, other_labels = without.valid_features[valid_known].float(), without.valid_labels[valid_known]
        unknown = without.valid_features[~valid_known].float()
        taught_valid = features.valid_features[known & (features.valid_labels == label)].float()
        before = outcome(teaching.fit_head(without), others, other_labels, unknown, None)
        photos = decode(model, pick(known_photos[name], count, seed=label))
        views = teaching.views_per_photo(len(photos))
        rows = teaching.photo_features(model.predictor, photos, views, features.mean, features.std).float()
        for cap in WEIGHT_CAPS:
            head = teaching.fit_head(without, rows, rows[: len(photos)], weight_cap=cap)
            per_cap[cap].append({"photos": len(photos), "before": before, "after": outcome(head, others, other_labels, unknown, taught_valid)})
    return [{"weight_cap": cap, **curve(rows)[0]} for cap, rows in per_cap.items() if rows]


def teaching_time(model, features, photos: list[Path]) -> list[dict]:
    """Seconds to teach from 10 and 50 photos (cycling through `photos` when there are fewer), at the app's threads."""
    threads = torch.get_num_threads()
    torch.set_num_threads(APP_THREADS)
    try:
        timings = []
        for count in TIMED_PHOTOS:
            decoded = decode(model, [photos[i % len(photos)] for i in range(count)])
            started = time.perf_counter()
            teaching.teach(model.predictor, model.card, features, "Timed Landmark", decoded)
            timings.append({"photos": count, "seconds": round(time.perf_counter() - started, 2), "torch_threads": APP_THREADS})
            log(f"teaching: {count} photos in {timings[-1]['seconds']} s")
        return timings
    finally:
        torch.set_num_threads(threads)


def teaching_benchmark(models_dir: Path, data_dir: Path, negatives_dir: Path, mode: Mode) -> dict:
    model = model_files.load_model(models_dir, "transfer")
    features = teaching.load_training_features(teaching.features_path(models_dir / "transfer.pt"))
    known_photos = training_photos(data_dir, features.class_names)
    test = data.find_images(data_dir, "test")
    test_names = [display_name(test.class_folders[label]) for label in test.labels]
    keep = [i for i, name in enumerate(test_names) if name in features.class_names]
    test_features = pooled(model, [test.files[i] for i in keep])
    test_names = [test_names[i] for i in keep]
    test_labels = torch.tensor([features.class_names.index(name) for name in test_names])
    held_out = split_landmarks(list_landmarks(negatives_dir), seed=0).test if negatives_dir.is_dir() else []
    unknown = pooled(model, landmark_files(negatives_dir, held_out))
    rows = teach_back(model, features, known_photos, test_features, test_names, unknown, mode.teach_photos)
    return {
        "weight_cap": teaching.TAUGHT_WEIGHT_CAP,
        "cap_sweep_on_validation": cap_sweep(model, features, known_photos) if mode.name == "full" else {"skipped": f"{mode.name} mode"},
        "model": str(models_dir / "transfer.pt"),
        "time": teaching_time(model, features, known_photos[features.class_names[0]]),
        "known": {"curve": curve(rows), "landmarks": rows},
        "other": teach_others(model, features, negatives_dir, held_out, test_features, test_labels),
        "held_out_landmarks": held_out,
    }
