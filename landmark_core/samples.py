"""Sample photos for the app's gallery: which ones to show, and how to put a few into assets/samples.

The repository ships no photos. A deployment fills `assets/samples/<NN.Class_Name>/` from a dataset with
`python scripts/fill_samples.py`; on a development machine the app falls back to the shared photos beside
the repo.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from landmark_core.data import SHARED_DATA_DIR, image_files
from landmark_core.places import display_name

SAMPLES_DIR = Path(__file__).resolve().parents[1] / "assets" / "samples"
UDACITY_SAMPLES_TEST = SHARED_DATA_DIR.parent / "udacity_samples" / "test"
SHARED_TEST = SHARED_DATA_DIR / "test"


@dataclass(frozen=True)
class Sample:
    path: Path  # absolute
    landmark: str | None = None  # the class the photo shows (its class folder's display name), if in a class folder

    @property
    def caption(self) -> str:
        """The landmark the photo shows, or the file name of a loose photo."""
        return self.landmark or self.path.stem


def list_samples(folder: str | os.PathLike, per_class: int | None = None) -> list[Sample]:
    """Images in `folder/<class>/` (captioned with the class) and loose images in `folder/` (captioned by name)."""
    folder = Path(folder).resolve()
    if not folder.is_dir():
        return []
    found = [Sample(path) for path in image_files(folder)]
    for class_dir in sorted(entry for entry in folder.iterdir() if entry.is_dir() and not entry.name.startswith(".")):
        photos = image_files(class_dir)[:per_class]
        found += [Sample(path, display_name(class_dir.name)) for path in photos]
    return found


def default_samples() -> list[Sample]:
    """assets/samples when it holds photos; else a few official Udacity photos and test photos of each class."""
    shipped = list_samples(SAMPLES_DIR)
    if shipped:
        return shipped
    # A few per class keep the gallery balanced (the official folder has 25 photos of one park).
    return list_samples(UDACITY_SAMPLES_TEST, per_class=3) + list_samples(SHARED_TEST, per_class=2)


def fill_samples(dataset: str | os.PathLike, destination: str | os.PathLike = SAMPLES_DIR, per_class: int = 2) -> list[Path]:
    """Copy `per_class` photos of every class from `dataset` (a root with test/, or a split folder) into
    `destination/<class>/`; return the files copied. Photos already there are kept, so it can be rerun."""
    source = Path(dataset)
    if (source / "test").is_dir():
        source = source / "test"
    class_dirs = sorted(entry for entry in source.iterdir() if entry.is_dir() and not entry.name.startswith(".")) if source.is_dir() else []
    if not class_dirs:
        raise FileNotFoundError(f"No class folders under {source.resolve()} (expected <root>/test/<NN.Class_Name>/*.jpg).")
    copied = []
    for class_dir in class_dirs:
        target_dir = Path(destination) / class_dir.name
        for photo in image_files(class_dir)[:per_class]:
            target = target_dir / photo.name
            if not target.exists():
                target_dir.mkdir(parents=True, exist_ok=True)
                shutil.copy2(photo, target)
                copied.append(target)
    return copied
