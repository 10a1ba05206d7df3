"""Tagging many photos: a folder (recursively) or a list of files in, one TagRow per photo out, as it goes.

The page's Batch tab and `tag_photos.py` share this one path:
    list_photos     a folder or a file list -> Photo entries (named relative to the folder or list)
    decode          a Photo -> a tensor ready to batch, its own EXIF GPS, or the reason it is unreadable
    rows_for_batch  decoded photos -> one predictor pass -> TagRows (inference's open-set rule, places, distance)
    tag_local       the local engine: a DataLoader whose worker processes decode while the model predicts
    Tagging         what a run does around an engine: skip what the tags file holds, write GPS copies, write rows
`landmark_core.ray_engine` is the other engine: the same `decode` and `rows_for_batch` in Ray actors.

Batching is exact: `decode` runs the predictor's own first step (data.eval_resize) and cuts a square whose centre
crop is the predictor's, so the predictor's resize is the identity and every photo gets the same answer as alone.
"""

from __future__ import annotations

import dataclasses
import os
import time
from dataclasses import dataclass
from pathlib import Path, PurePath
from typing import Callable, Iterator, Sequence

import torch
from torch.utils.data import DataLoader, Dataset

from landmark_core import data, geotag, images, inference, runtime
from landmark_core.inference import Prediction
from landmark_core.model_files import LoadedModel
from landmark_core.tags import Key, TagRow, TagsFile

TOP = 3
LIST_COMMENT = "#"


class TaggingError(ValueError):
    """An input that cannot be tagged (no such folder or file list, a list that is not text); for the user."""


@dataclass(frozen=True)
class Photo:
    """One file to tag, and what identifies it in the tags file (`key`)."""

    path: Path  # where to read it
    file: str  # how the tags name it: relative to the folder or the list's folder (else as listed)
    bytes: int | None = None  # None: it could not be stat'ed (its row will say why)
    mtime_ns: int | None = None

    @property
    def key(self) -> Key:
        return (self.file, self.bytes, self.mtime_ns)


def photo(path: str | os.PathLike, file: str) -> Photo:
    """The Photo at `path`, named `file`, with its size and modification time as it is now."""
    try:
        stat = os.stat(path)
    except OSError:
        return Photo(Path(path), file)
    return Photo(Path(path), file, stat.st_size, stat.st_mtime_ns)


def _listed(entry: str, folder: Path) -> Photo:
    path = folder / entry  # an absolute entry stays absolute
    try:
        file = path.resolve().relative_to(folder.resolve()).as_posix()
    except ValueError:
        file = entry
    return photo(path, file)


def list_photos(source: str | os.PathLike) -> list[Photo]:
    """Every image under a folder (by suffix, recursively, hidden files and folders left out, sorted), or every
    path in a text file (one per line, relative to the file's folder; blank lines and # comments skipped, a name
    listed twice tagged twice)."""
    source = Path(source)
    if source.is_dir():
        found = (
            path for path in source.rglob("*")
            if data.is_image_file(path) and not any(part.startswith(".") for part in path.relative_to(source).parent.parts)
        )
        return [photo(path, path.relative_to(source).as_posix()) for path in sorted(found)]
    if source.is_file():
        try:
            lines = source.read_text(encoding="utf-8").splitlines()
        except (UnicodeDecodeError, OSError) as error:
            raise TaggingError(f"{source} is neither a folder nor a text file listing photos ({error}).") from None
        entries = [line.strip() for line in lines if line.strip() and not line.lstrip().startswith(LIST_COMMENT)]
        return [_listed(entry, source.parent) for entry in entries]
    raise TaggingError(f"No such folder or file list: {source}.")


def mirror_path(out_dir: Path, file: str) -> Path:
    """Where a photo's GPS copy goes: OUT_DIR/<its relative name> (an absolute list entry loses its root)."""
    relative = PurePath(file)
    return out_dir.joinpath(*[part for part in relative.parts if part not in (relative.anchor, "..")])


@dataclass(frozen=True)
class Decoded:
    index: int  # position in the photo list
    pixels: torch.Tensor | None  # float (3,S,S) in [0,1]; None: unreadable, or moved into the batch by `collate`
    error: str = ""
    own_gps: tuple[float, float] | None = None


def batchable(tensor: torch.Tensor, resize_size: int, crop_size: int) -> torch.Tensor:
    """uint8 (3,H,W) -> float (3,S,S): the predictor's resize, then the square around its centre crop.

    On this square the predictor's resize is the identity and its centre crop lands on the same pixels as on the
    whole photo: the offset is the whole photo's crop offset less the square's own.
    """
    resized = data.eval_resize(tensor[None], resize_size, crop_size)[0]
    height, width = resized.shape[-2:]
    side = min(height, width)
    top = (height - crop_size) // 2 - (side - crop_size) // 2
    left = (width - crop_size) // 2 - (side - crop_size) // 2
    return resized[:, top : top + side, left : left + side]


def decode(index: int, entry: Photo, resize_size: int, crop_size: int) -> Decoded:
    """Never raises for a bad file: its error goes into the row."""
    try:
        tensor = images.load_tensor(entry.path, resize_size)  # as inference.predict decodes
    except images.ImageError as error:
        return Decoded(index, None, str(error))
    return Decoded(index, batchable(tensor, resize_size, crop_size), own_gps=geotag.read_gps(entry.path))


@dataclass(frozen=True)
class Batch:
    decoded: list[Decoded]  # pixels moved out into `pixels`
    pixels: torch.Tensor | None  # (n readable, 3, S, S), in the order of the readable ones


def collate(decoded: list[Decoded]) -> Batch:
    """One tensor per batch, so a worker hands the batch over in one shared-memory block."""
    readable = [item.pixels for item in decoded if item.pixels is not None]
    return Batch([dataclasses.replace(item, pixels=None) for item in decoded], torch.stack(readable) if readable else None)


def row(entry: Photo, item: Decoded, prediction: Prediction | None) -> TagRow:
    """The photo's TagRow: the open-set rule as inference decided it, the landmark's place, and how far the
    photo's own GPS position is from it."""
    base = TagRow(file=entry.file, bytes=entry.bytes, mtime_ns=entry.mtime_ns, error=item.error)
    if item.own_gps:
        base = dataclasses.replace(base, photo_latitude=item.own_gps[0], photo_longitude=item.own_gps[1])
    if prediction is None:
        return base
    top3 = tuple((guess["label"], guess["probability"]) for guess in prediction.top)
    base = dataclasses.replace(base, is_unknown=prediction.is_unknown, known_score=prediction.known_score, top3=top3)
    best, place = prediction.best, prediction.best["place"]
    if prediction.is_unknown:
        return base
    base = dataclasses.replace(base, landmark=best["label"], probability=best["probability"])
    if place is None:
        return base
    distance = geotag.distance_km(item.own_gps, (place["latitude"], place["longitude"])) if item.own_gps else None
    return dataclasses.replace(
        base,
        place=f"{place['region']}, {place['country']}",
        latitude=place["latitude"],
        longitude=place["longitude"],
        map_url=place["map_url"],
        distance_km=distance,
    )


def rows_for_batch(model: LoadedModel, photos: Sequence[Photo], batch: Batch) -> list[TagRow]:
    """One predictor pass over the batch's readable photos; each photo's row, in the batch's order."""
    predictions: list[Prediction] = []
    if batch.pixels is not None:
        started = time.perf_counter()
        with torch.inference_mode():
            probabilities, known_scores = model.predictor.classify(batch.pixels)
        milliseconds = (time.perf_counter() - started) * 1000 / len(batch.pixels)
        predictions = inference.predictions(model, probabilities, known_scores, TOP, milliseconds)
        runtime.release_free_memory()  # the batch's tensors are freed: keep memory flat over a long run
    answers = iter(predictions)
    return [row(photos[item.index], item, None if item.error else next(answers)) for item in batch.decoded]


class PhotoDataset(Dataset):
    def __init__(self, photos: Sequence[Photo], resize_size: int, crop_size: int):
        self.photos, self.resize_size, self.crop_size = photos, resize_size, crop_size

    def __len__(self) -> int:
        return len(self.photos)

    def __getitem__(self, index: int) -> Decoded:
        return decode(index, self.photos[index], self.resize_size, self.crop_size)


def default_workers() -> int:
    """Decoding processes for the local engine: half the CPUs. Decoding and resizing a photo costs about a fifth
    of predicting it (3.7 against 18 CPU-ms for the transfer model), and the predictor's threads use every CPU. On
    2 cores shared with a training job, 320 photos ran at 0.92 of the predictor's throughput with one worker, 0.71
    with two and 0.90 with three: noisy, and none better than one."""
    return max(1, runtime.allowed_cpus() // 2)


# An engine: (model, photos, batch size, workers) -> (photo, row) for every photo, in order.
Engine = Callable[[LoadedModel, Sequence[Photo], int, int], Iterator[tuple[Photo, TagRow]]]


def tag_local(model: LoadedModel, photos: Sequence[Photo], batch_size: int, workers: int) -> Iterator[tuple[Photo, TagRow]]:
    """This machine: `workers` processes decode (0: this process does), this process predicts batch by batch."""
    predictor = model.predictor
    loader = DataLoader(
        PhotoDataset(photos, int(predictor.resize_size), int(predictor.crop_size)),
        batch_size=max(1, batch_size),
        num_workers=max(0, workers),
        collate_fn=collate,
    )
    for batch in loader:
        for item, tagged in zip(batch.decoded, rows_for_batch(model, photos, batch)):
            yield photos[item.index], tagged


class Tagging:
    """A run over `photos` into a tags file: the photos it already holds are skipped (`skipped`), the others
    (`pending`) are tagged by an engine, their GPS copies written to `gps_dir`, their rows appended."""

    def __init__(self, model: LoadedModel, photos: Sequence[Photo], out: str | os.PathLike, gps_dir: str | os.PathLike | None = None, overwrite_gps: bool = False):
        self.model = model
        self.tags = TagsFile(out)
        self.pending = [entry for entry in photos if entry.key not in self.tags.done]
        self.skipped = len(photos) - len(self.pending)
        self.gps_dir = Path(gps_dir) if gps_dir is not None else None
        self.overwrite_gps = overwrite_gps

    def geotagged(self, entry: Photo, tagged: TagRow) -> TagRow:
        """The row, once its photo's GPS copy is written (only a known landmark with a place gets one)."""
        if self.gps_dir is None or tagged.latitude is None or tagged.longitude is None:
            return tagged
        try:
            outcome = geotag.write_gps_copy(entry.path, mirror_path(self.gps_dir, entry.file), tagged.latitude, tagged.longitude, self.overwrite_gps)
        except (geotag.GeotagError, OSError) as error:
            outcome = f"not written: {error}"
        return dataclasses.replace(tagged, geotag=outcome)

    def rows(self, engine: Engine = tag_local, batch_size: int = 32, workers: int = 0) -> Iterator[TagRow]:
        """Tag the pending photos; each row is in the tags file before it is yielded."""
        with self.tags:
            for entry, tagged in engine(self.model, self.pending, batch_size, workers):
                tagged = self.geotagged(entry, tagged)
                self.tags.write(tagged)
                yield tagged
