"""The tags file: one TagRow per photo, as CSV (the default) or JSON Lines (a name ending in .jsonl).

Rows are appended and flushed one by one, so a run that is killed loses nothing already written; reopening the
file cuts a half-written last line and reports which photos it already holds (by relative path, size and
modification time), which is how a rerun resumes. A photo that changed since gets a new row; the last row of a
file is the current one.
"""

from __future__ import annotations

import csv
import json
import os
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import Iterable, TextIO

COLUMNS = [
    "file", "landmark", "probability", "is_unknown", "known_score", "top3", "place", "latitude", "longitude", "map_url",
    "photo_latitude", "photo_longitude", "distance_km", "geotag", "error", "bytes", "mtime_ns",
]
# Decimals in CSV: coordinates to 6 (10 cm), a distance to the metre.
NUMBER_DIGITS = {"probability": 4, "known_score": 4, "latitude": 6, "longitude": 6, "photo_latitude": 6, "photo_longitude": 6, "distance_km": 3}
TAIL_CHUNK = 1 << 16
# A photo is the same one again when these are: its name in the library, its size and its modification time.
Key = tuple[str, "int | None", "int | None"]


class TagsFileError(ValueError):
    """A tags file this version cannot append to; str(error) is meant for the user."""


@dataclass(frozen=True)
class TagRow:
    """One photo: its landmark and where that is, or an empty landmark when the photo is not one of the model's
    (`is_unknown`, with the closest guesses still in `top3`), or only an `error` when the file could not be read."""

    file: str  # relative to the folder tagged, or as the file list names it
    landmark: str = ""
    probability: float | None = None  # the landmark's; None when unknown or unreadable
    is_unknown: bool | None = None  # None: the file could not be read
    known_score: float | None = None
    top3: tuple[tuple[str, float], ...] = ()  # (label, probability), best first, whether known or not
    place: str = ""  # "Paris, France"
    latitude: float | None = None  # the landmark's
    longitude: float | None = None
    map_url: str = ""
    photo_latitude: float | None = None  # the photo's own EXIF GPS, when it has one
    photo_longitude: float | None = None
    distance_km: float | None = None  # from the photo's own position to the landmark
    geotag: str = ""  # what --write-gps did with this photo (landmark_core.geotag)
    error: str = ""
    bytes: int | None = None
    mtime_ns: int | None = None

    @property
    def key(self) -> Key:
        return (self.file, self.bytes, self.mtime_ns)

    def to_json(self) -> dict:
        """The JSON Lines record: COLUMNS, with top3 as [{"label", "probability"}]."""
        record = asdict(self)
        record["top3"] = [{"label": label, "probability": probability} for label, probability in self.top3]
        return record

    @classmethod
    def from_json(cls, record: dict) -> "TagRow":
        known = {field.name for field in fields(cls)}
        row = cls(**{name: value for name, value in record.items() if name in known})
        return replace(row, top3=tuple((guess["label"], guess["probability"]) for guess in record.get("top3") or ()))


def _csv_safe(value: str) -> str:
    """Spreadsheets run a cell that starts with = + - @ as a formula; a file name must stay text."""
    return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value


def _csv_text(cell: str) -> str:
    return cell[1:] if cell[:1] == "'" and cell[1:2] in ("=", "+", "-", "@", "\t", "\r") else cell


def csv_cells(row: TagRow) -> list[str]:
    """COLUMNS as CSV text: numbers rounded for reading, top3 as "Eiffel Tower=0.9712; Louvre=0.0100"."""
    cells = []
    for column in COLUMNS:
        value = getattr(row, column)
        if value is None:
            cells.append("")
        elif column == "top3":
            cells.append("; ".join(f"{label}={probability:.4f}" for label, probability in value))
        elif isinstance(value, bool):
            cells.append("true" if value else "false")
        elif column in NUMBER_DIGITS:
            cells.append(f"{value:.{NUMBER_DIGITS[column]}f}")
        else:
            cells.append(str(value) if isinstance(value, int) else _csv_safe(value))
    return cells


def _optional_int(cell: object) -> int | None:
    return None if cell in ("", None) else int(cell)  # type: ignore[arg-type]


def _cut_half_written_line(path: Path) -> None:
    """Cut the file after its last newline: a killed run may have written part of a row. Reads only the tail."""
    with open(path, "r+b") as handle:
        end = position = handle.seek(0, os.SEEK_END)
        keep = 0
        while position > 0:
            step = min(TAIL_CHUNK, position)
            handle.seek(position - step)
            newline = handle.read(step).rfind(b"\n")
            if newline >= 0:
                keep = position - step + newline + 1
                break
            position -= step
        if keep != end:
            handle.truncate(keep)


class TagsFile:
    """A CSV or JSON Lines tags file: `done` holds the keys of the photos already in it; `with` it to add rows."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self.jsonl = self.path.suffix.lower() == ".jsonl"
        self.done: set[Key] = set()
        if self.path.is_file():
            _cut_half_written_line(self.path)
            with open(self.path, newline="", encoding="utf-8-sig") as handle:
                self.done = self._read_keys(handle)

    def _read_keys(self, handle: TextIO) -> set[Key]:
        """Streamed: a tags file of millions of rows is never held in memory, only its keys."""
        if self.jsonl:
            records: Iterable[dict] = (json.loads(line) for line in handle if line.strip())
        else:
            reader = csv.reader(handle)
            header = next(reader, None)
            if header is not None and header != COLUMNS:
                raise TagsFileError(f"{self.path} has other columns than this version writes; choose another --out.")
            records = (dict(zip(COLUMNS, cells)) for cells in reader)
        try:
            return {(_csv_text(str(record["file"])), _optional_int(record["bytes"]), _optional_int(record["mtime_ns"])) for record in records}
        except (KeyError, TypeError, ValueError):
            raise TagsFileError(f"{self.path} is not a tags file this version wrote; choose another --out.") from None

    def __enter__(self) -> "TagsFile":
        """Open for appending; `write(row)` then adds one row and flushes it to the operating system."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.handle = open(self.path, "a", newline="", encoding="utf-8")
        if not self.jsonl:
            self.csv = csv.writer(self.handle)
            if self.handle.tell() == 0:
                self.handle.write("\ufeff")  # spreadsheet apps read the accents as UTF-8 only after this mark
                self.csv.writerow(COLUMNS)
        return self

    def write(self, row: TagRow) -> None:
        if self.jsonl:
            self.handle.write(json.dumps(row.to_json(), ensure_ascii=False) + "\n")
        else:
            self.csv.writerow(csv_cells(row))
        self.handle.flush()  # a killed run keeps every row written so far
        self.done.add(row.key)

    def __exit__(self, *exc_info) -> None:
        os.fsync(self.handle.fileno())
        self.handle.close()
