"""Image folders -> labelled, decoded-once uint8 tensors -> augmented training batches.

A dataset root holds `train/` and `test/`, each with one folder per class named `NN.Class_Name` as in the
official Udacity set. Class index order is the sorted folder order.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import torch
from torch import Tensor
from torch.nn import functional as F
from torch.utils.data import Dataset
from torchvision.transforms import v2

from landmark_core import images
from landmark_core.files import atomic_path

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp", ".bmp", ".gif", ".tif", ".tiff"}
SHARED_DATA_DIR = Path(__file__).resolve().parents[2] / "shared" / "data" / "landmarks"
DOWNLOAD_DATA_DIR = Path("data") / "landmark_images"
EXPECTED_LAYOUT = "<root>/train/<NN.Class_Name>/*.jpg and <root>/test/<NN.Class_Name>/*.jpg"


class DatasetError(RuntimeError):
    """The data folder is missing, empty or not laid out as expected; the message says what to do."""


def default_data_dir() -> Path:
    """The shared 7-class tree when it sits beside the repo, else where `--download` puts the full set."""
    return SHARED_DATA_DIR if SHARED_DATA_DIR.is_dir() else DOWNLOAD_DATA_DIR


@dataclass(frozen=True)
class ImageFolder:
    """The image files of one split and their class indices."""

    root: Path
    class_folders: list[str]
    files: list[Path]
    labels: list[int]

    def __len__(self) -> int:
        return len(self.files)


def is_image_file(path: Path) -> bool:
    """An image by its suffix, and not hidden."""
    return path.is_file() and path.suffix.lower() in IMAGE_SUFFIXES and not path.name.startswith(".")


def image_files(folder: str | os.PathLike) -> list[Path]:
    """The image files directly in `folder`, sorted."""
    return sorted(path for path in Path(folder).iterdir() if is_image_file(path))


def find_images(root: str | os.PathLike, split: str, class_folders: Sequence[str] | None = None) -> ImageFolder:
    """List `root/split/<class>/*`; `class_folders` pins the class order to the training split's."""
    split_dir = Path(root) / split
    if not split_dir.is_dir():
        raise DatasetError(f"No '{split}' folder in {Path(root).resolve()}. Expected {EXPECTED_LAYOUT}.")
    found = sorted(entry.name for entry in split_dir.iterdir() if entry.is_dir() and not entry.name.startswith("."))
    folders = list(class_folders) if class_folders is not None else found
    unknown = sorted(set(found) - set(folders))
    if unknown:
        raise DatasetError(f"{split_dir} has classes the training split lacks: {', '.join(unknown)}.")
    files: list[Path] = []
    labels: list[int] = []
    for index, folder in enumerate(folders):
        class_dir = split_dir / folder
        if not class_dir.is_dir():
            continue
        for file in sorted(class_dir.iterdir()):
            if file.suffix.lower() in IMAGE_SUFFIXES:
                files.append(file)
                labels.append(index)
    if not files:
        raise DatasetError(f"No images under {split_dir.resolve()}. Expected {EXPECTED_LAYOUT}.")
    return ImageFolder(Path(root), folders, files, labels)


def stratified_split(labels: Sequence[int], valid_fraction: float, seed: int) -> tuple[list[int], list[int]]:
    """Seeded per-class split of indices into (train, valid), so small classes keep their share in both."""
    generator = torch.Generator().manual_seed(seed)
    train: list[int] = []
    valid: list[int] = []
    for label in sorted(set(labels)):
        members = [i for i, value in enumerate(labels) if value == label]
        order = torch.randperm(len(members), generator=generator).tolist()
        n_valid = max(1, round(len(members) * valid_fraction)) if len(members) > 1 else 0
        valid += [members[i] for i in order[:n_valid]]
        train += [members[i] for i in order[n_valid:]]
    return sorted(train), sorted(valid)


@dataclass(frozen=True)
class PreparedData:
    """A dataset root made ready to train on: decoded train/valid images, and the test files."""

    train: ImageFolder  # all of train/, before the validation split
    test: ImageFolder
    train_images: list[Tensor]
    train_labels: list[int]
    valid_images: list[Tensor]
    valid_labels: list[int]


def decode_size(crop_size: int) -> int:
    """The short side training photos are decoded at: larger than the crop by the course's 256:224, so random
    crops keep some detail and the standard eval transform (resize 256, crop 224) has its pixels."""
    return round(crop_size * 256 / 224)


# The share of each class's train/ photos held out for validation (stratified, seeded).
VALID_FRACTION = 0.15


def prepare(
    root: str | os.PathLike, short_side: int, seed: int, cache_dir: str | os.PathLike | None, valid_fraction: float = VALID_FRACTION
) -> PreparedData:
    """Find both splits, carve validation out of train/ (never out of test/), decode train/ once."""
    train = find_images(root, "train")
    test = find_images(root, "test", train.class_folders)
    train_idx, valid_idx = stratified_split(train.labels, valid_fraction, seed)
    decoded = decode_images(train.files, short_side, cache_dir, desc="decode train")
    return PreparedData(
        train,
        test,
        [decoded[i] for i in train_idx],
        [train.labels[i] for i in train_idx],
        [decoded[i] for i in valid_idx],
        [train.labels[i] for i in valid_idx],
    )


def resize_short_side(image: Tensor, short_side: int) -> Tensor:
    """uint8 (3,H,W) -> uint8 with the short side at `short_side` (antialiased)."""
    height, width = image.shape[-2:]
    scale = short_side / min(height, width)
    size = [max(short_side, int(height * scale + 0.5)), max(short_side, int(width * scale + 0.5))]
    return v2.functional.resize(image, size, antialias=True)


def fingerprint(files: Sequence[Path], *settings: object) -> str:
    """A short key for caches derived from `files`: their paths, sizes and mtimes, plus `settings`."""
    digest = hashlib.sha1(repr(settings).encode())
    for file in files:
        stat = file.stat()
        digest.update(f"{file.resolve()}|{stat.st_size}|{stat.st_mtime_ns}".encode())
    return digest.hexdigest()[:16]


def decode_images(
    files: Sequence[Path], short_side: int, cache_dir: str | os.PathLike | None = None, desc: str = "decode"
) -> list[Tensor]:
    """Decode every file once to uint8 (3,H,W) with the short side at `short_side`.

    Two CPU cores cannot afford to re-decode full-size JPEGs every epoch, so the small tensors are kept in
    memory and, with `cache_dir`, on disk for the next run (keyed by the files' paths, sizes and mtimes).
    """
    cache_file = Path(cache_dir) / f"decoded-{fingerprint(files, short_side)}.pt" if cache_dir else None
    if cache_file is not None and cache_file.is_file():
        return torch.load(cache_file)
    # Imported here: the app loads this module too (preprocess, image_files) but never decodes a dataset, and the
    # Space bundle's requirements list only what loading the app imports (landmark_core/space_bundle.py).
    from tqdm import tqdm

    decoded = []
    for file in tqdm(files, desc=desc, unit="img", leave=False):
        try:
            decoded.append(resize_short_side(images.load_tensor(file, short_side), short_side))
        except images.ImageError as error:
            raise DatasetError(f"{file}: {error}") from None
    if cache_file is not None:
        with atomic_path(cache_file) as temporary:
            torch.save(decoded, temporary)
    return decoded


def channel_stats(decoded: Sequence[Tensor]) -> tuple[list[float], list[float]]:
    """Per-channel mean and std in [0,1] over every pixel of the (training) images."""
    total = torch.zeros(3, dtype=torch.float64)
    total_sq = torch.zeros(3, dtype=torch.float64)
    count = 0
    for image in decoded:
        pixels = image.reshape(3, -1).to(torch.float64) / 255.0
        total += pixels.sum(1)
        total_sq += (pixels**2).sum(1)
        count += pixels.shape[1]
    mean = total / count
    std = (total_sq / count - mean**2).clamp_min(1e-12).sqrt()
    return mean.tolist(), std.tolist()


def eval_resize(x: Tensor, resize_size: int, crop_size: int) -> Tensor:
    """The eval transform's first step: (N,3,H,W) uint8 or float in [0,1] -> float in [0,1], short side resized to
    `resize_size` (bilinear, antialiased) but never below `crop_size`. Batch tagging runs it ahead of the Predictor."""
    x = x.float() / 255.0 if x.dtype == torch.uint8 else x.float()
    height, width = x.shape[-2], x.shape[-1]
    scale = resize_size / min(height, width)
    new_height = max(crop_size, int(height * scale + 0.5))
    new_width = max(crop_size, int(width * scale + 0.5))
    return F.interpolate(x, size=[new_height, new_width], mode="bilinear", align_corners=False, antialias=True)


def preprocess(x: Tensor, resize_size: int, crop_size: int, mean: Tensor, std: Tensor) -> Tensor:
    """The eval transform, TorchScript-friendly: (N,3,H,W) uint8 or float in [0,1] -> normalized crop.

    Short side resized to `resize_size` (eval_resize), centre crop `crop_size`, then normalized.
    The Predictor runs exactly this, so validation numbers are the shipped model's numbers.
    """
    x = eval_resize(x, resize_size, crop_size)
    new_height, new_width = x.shape[-2], x.shape[-1]
    top = (new_height - crop_size) // 2
    left = (new_width - crop_size) // 2
    x = x[:, :, top : top + crop_size, left : left + crop_size]
    return (x - mean.view(1, 3, 1, 1)) / std.view(1, 3, 1, 1)


def train_transform(crop_size: int, mean: Sequence[float], std: Sequence[float]) -> Callable[[Tensor], Tensor]:
    """Augmentation for uint8 tensors: the views a phone camera gives of a landmark."""
    return v2.Compose(
        [
            v2.RandomResizedCrop(crop_size, scale=(0.3, 1.0), antialias=True),
            v2.RandomHorizontalFlip(),
            v2.RandomApply([v2.ColorJitter(0.3, 0.3, 0.3, 0.03)], p=0.8),
            v2.RandomGrayscale(p=0.05),
            v2.ToDtype(torch.float32, scale=True),
            v2.Normalize(list(mean), list(std)),
        ]
    )


def eval_transform(resize_size: int, crop_size: int, mean: Sequence[float], std: Sequence[float]) -> Callable[[Tensor], Tensor]:
    mean_tensor, std_tensor = torch.tensor(mean), torch.tensor(std)
    return lambda image: preprocess(image[None], resize_size, crop_size, mean_tensor, std_tensor)[0]


class TensorImageDataset(Dataset):
    """Decoded uint8 images + labels, transformed on access."""

    def __init__(self, decoded: Sequence[Tensor], labels: Sequence[int], transform: Callable[[Tensor], Tensor]):
        self.decoded = decoded
        self.labels = labels
        self.transform = transform

    def __len__(self) -> int:
        return len(self.decoded)

    def __getitem__(self, index: int) -> tuple[Tensor, int]:
        return self.transform(self.decoded[index]), self.labels[index]
