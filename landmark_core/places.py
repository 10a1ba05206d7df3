"""Where each of the 50 landmarks is: a readable name, its region and country, and a map link.

The data lives in places.csv next to this module, one row per class folder of the Udacity
"Landmark Classification & Tagging" set. Coordinates are the landmark itself (or, for parks and
natural sites, a well-known point in them), to 4 decimals; they are meant for a map pin, not surveying.

`display_name` is the project-wide rule that turns a class folder into the label a model reports,
so training, the app and this table all agree on what a class is called.
"""

from __future__ import annotations

import csv
import functools
import re
from dataclasses import dataclass
from pathlib import Path

CSV_PATH = Path(__file__).with_name("places.csv")

# Class folders look like "16.Eiffel_Tower": a number, a dot, then the name with underscores.
_FOLDER_PREFIX = re.compile(r"^\d+\.")


def display_name(folder: str) -> str:
    """'16.Eiffel_Tower' -> 'Eiffel Tower': drop the 'NN.' prefix, underscores become spaces.

    Pure string work (no CSV), so any code can name a class the same way without loading the table.
    """
    return _FOLDER_PREFIX.sub("", folder.strip(), count=1).replace("_", " ").strip()


@dataclass(frozen=True)
class Place:
    folder: str  # dataset class folder, e.g. "04.Wroclaws_Dwarves"
    name: str  # name to show people, e.g. "Wrocław's Dwarves" (may carry diacritics the folder lacks)
    region: str  # city / state / area
    country: str
    latitude: float
    longitude: float

    @property
    def label(self) -> str:
        """The class name a model reports for this place (display_name of the folder)."""
        return display_name(self.folder)

    @property
    def map_url(self) -> str:
        """An OpenStreetMap link with a pin on the place."""
        lat, lon = f"{self.latitude:.4f}", f"{self.longitude:.4f}"
        return f"https://www.openstreetmap.org/?mlat={lat}&mlon={lon}#map=15/{lat}/{lon}"


@functools.lru_cache(maxsize=1)
def _read_places() -> tuple[Place, ...]:
    with CSV_PATH.open(newline="", encoding="utf-8") as f:
        places = tuple(
            Place(
                folder=row["folder"],
                name=row["name"],
                region=row["region"],
                country=row["country"],
                latitude=float(row["latitude"]),
                longitude=float(row["longitude"]),
            )
            for row in csv.DictReader(f)
        )
    labels = [place.label for place in places]
    duplicates = sorted({label for label in labels if labels.count(label) > 1})
    if duplicates:
        raise ValueError(f"{CSV_PATH.name} names these classes more than once: {', '.join(duplicates)}")
    return places


def load_places() -> dict[str, Place]:
    """Every place, keyed by display name ("Eiffel Tower"). The file is read once per process."""
    # A fresh dict each call, so a caller that edits its copy cannot change what others see.
    return {place.label: place for place in _read_places()}


def place_for(label: str) -> Place | None:
    """The place for a model label ("Eiffel Tower"); None for a label the table does not know.

    A class folder ("16.Eiffel_Tower") or the display name with diacritics ("Wrocław's Dwarves")
    are accepted too, and case is ignored, since labels reach us from more than one source.
    """
    key = display_name(label)
    places = load_places()
    if key in places:
        return places[key]
    folded = key.casefold()
    for place in places.values():
        if folded in (place.label.casefold(), place.name.casefold()):
            return place
    return None
