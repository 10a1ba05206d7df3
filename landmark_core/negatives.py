"""Photos of places the models must *not* recognise: famous landmarks outside the 50, split by landmark.

The folder holds one sub-folder per landmark (`other_landmarks/<landmark>/*.jpg`). A landmark's photos are
never split between training and evaluation: a rejection rate is only honest on landmarks the model never
saw, so the split is by landmark (seeded), into landmarks to train on, to validate on and to test on.
Official photos of Udacity classes a model does not know (a 7-class model meets Golden Gate, Soreq Cave and
Atomium among the official samples) are unknown landmarks too; `unknown_class_files` finds them.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import torch
from torch import Tensor

from landmark_core.data import SHARED_DATA_DIR, PreparedData, decode_images, image_files
from landmark_core.places import display_name

OTHER_LANDMARKS_DIR = SHARED_DATA_DIR.parent / "other_landmarks"
UDACITY_SAMPLES_DIR = SHARED_DATA_DIR.parent / "udacity_samples"


@dataclass(frozen=True)
class LandmarkSplit:
    """Which negative landmarks each stage may see; no landmark is in two lists."""

    train: list[str]
    valid: list[str]
    test: list[str]


def list_landmarks(root: str | os.PathLike, exclude: Sequence[str] = ()) -> list[str]:
    """The landmark folders under `root` that hold images, sorted; folders named in `exclude` left out."""
    root = Path(root)
    if not root.is_dir():
        return []
    return sorted(
        entry.name for entry in root.iterdir()
        if entry.is_dir() and not entry.name.startswith(".") and entry.name not in exclude and image_files(entry)
    )


def folder_name(class_name: str) -> str:
    """How a negatives folder names a landmark: 'Great Wall of China' -> 'great_wall_of_china'."""
    return class_name.lower().replace(" ", "_")


def split_landmarks(landmarks: Sequence[str], seed: int, n_valid: int = 4, n_test: int = 4, fold: int = 0) -> LandmarkSplit:
    """A seeded partition of whole landmarks into train / valid / test: in a seeded order, test is run `fold` of
    `n_test` landmarks (the first by default; folds 0, 1, ... of one seed never overlap), valid the next `n_valid`
    of the rest, and the rest trains. `n_test` 0 holds none out."""
    names = sorted(landmarks)
    if len(names) < n_valid + n_test + 1:
        raise ValueError(f"{len(names)} negative landmarks cannot be split into {n_test} test, {n_valid} valid and some to train on.")
    if n_test and not 0 <= fold * n_test < len(names):
        raise ValueError(f"{len(names)} negative landmarks hold no fold {fold} of {n_test}.")
    order = [names[i] for i in torch.randperm(len(names), generator=torch.Generator().manual_seed(seed)).tolist()]
    test = order[fold * n_test : (fold + 1) * n_test]
    rest = [name for name in order if name not in test]
    return LandmarkSplit(train=sorted(rest[n_valid:]), valid=sorted(rest[:n_valid]), test=sorted(test))


@dataclass(frozen=True)
class HeldOutFold:
    """Which share of a source's landmarks is never seen: fold `fold` of `folds` near-equal ones; `folds` 0: none."""

    fold: int
    folds: int

    @classmethod
    def parse(cls, text: str) -> "HeldOutFold":
        """'K/N' (fold K of N, counted from 0) or 'none'."""
        if text == "none":
            return cls(0, 0)
        fold, _, folds = text.partition("/")
        if not (fold.isdigit() and folds.isdigit() and 0 <= int(fold) < int(folds)):
            raise ValueError(f"expected K/N with 0 <= K < N, or 'none'; got {text!r}")
        return cls(int(fold), int(folds))

    def test_count(self, landmarks: int) -> int:
        """How many of `landmarks` one fold holds out (the last fold may hold fewer)."""
        return -(-landmarks // self.folds) if self.folds else 0


def landmark_files(root: str | os.PathLike, landmarks: Sequence[str]) -> list[Path]:
    """Every image of the given landmarks, in landmark then file order."""
    return [file for landmark in landmarks for file in image_files(Path(root) / landmark)]


@dataclass(frozen=True)
class Negatives:
    """Photos of one source of unknowns ready to use: decoded for training and validation, files for the test."""

    kind: str  # what the folders hold, e.g. "landmarks": the card's groups are "held-out <kind>", "validation <kind>"
    root: Path
    split: LandmarkSplit
    train_images: list[Tensor]
    valid_images: list[Tensor]
    test_files: list[Path]

    @property
    def files(self) -> list[Path]:
        """The files behind `train_images` and `valid_images`, for cache keys."""
        return landmark_files(self.root, self.split.train + self.split.valid)


def prepare_negatives(
    root: str | os.PathLike, short_side: int, seed: int, cache_dir: str | os.PathLike | None, n_valid: int = 4,
    held_out: HeldOutFold | None = None, exclude: Sequence[str] = (), kind: str = "landmarks",
) -> Negatives:
    """Split `root`'s landmarks (seeded; 4 of them, or the `held_out` fold of them, never seen; `n_valid` to validate
    on) and decode the train and valid ones once, like the known photos; folders named in `exclude` are left out. The
    test landmarks depend on the seed alone, so models split with different `n_valid` are tested on the same
    never-seen landmarks."""
    root = Path(root)
    landmarks = list_landmarks(root, exclude)
    n_test, fold = (4, 0) if held_out is None else (held_out.test_count(len(landmarks)), held_out.fold)
    split = split_landmarks(landmarks, seed, n_valid=n_valid, n_test=n_test, fold=fold)
    return Negatives(
        kind,
        root,
        split,
        decode_images(landmark_files(root, split.train), short_side, cache_dir, desc="decode negatives (train)"),
        decode_images(landmark_files(root, split.valid), short_side, cache_dir, desc="decode negatives (valid)"),
        landmark_files(root, split.test),
    )


def unknown_class_files(split_dir: str | os.PathLike, class_names: Sequence[str]) -> list[Path]:
    """Photos in `split_dir/<NN.Class_Name>/` of classes the model does not know (by display name)."""
    split_dir = Path(split_dir)
    if not split_dir.is_dir():
        return []
    known = set(class_names)
    folders = sorted(entry for entry in split_dir.iterdir() if entry.is_dir() and display_name(entry.name) not in known)
    return [file for folder in folders for file in image_files(folder)]



Labelled = tuple[list[Tensor], list[int]]


def training_splits(prepared: PreparedData, negatives: Sequence[Negatives]) -> tuple[Labelled, Labelled, int]:
    """(train images, labels), (valid images, labels) and the number of outputs to train.

    With negatives, they join both splits labelled as one extra output, "none of these" (outlier exposure):
    its index is the number of known landmarks, so the landmarks keep their indices.
    """
    num_known = len(prepared.train.class_folders)
    train = (list(prepared.train_images), list(prepared.train_labels))
    valid = (list(prepared.valid_images), list(prepared.valid_labels))
    for source in negatives:
        train = (train[0] + source.train_images, train[1] + [num_known] * len(source.train_images))
        valid = (valid[0] + source.valid_images, valid[1] + [num_known] * len(source.valid_images))
    return train, valid, num_known + (1 if negatives else 0)
