import csv
import re
from pathlib import Path

import pytest

from landmark_core.places import CSV_PATH, Place, display_name, load_places, place_for

SHARED_TRAIN = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "landmarks" / "train"


def _rows():
    with CSV_PATH.open(newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def test_csv_has_50_rows_with_unique_folders_numbered_00_to_49():
    rows = _rows()
    assert len(rows) == 50
    folders = [row["folder"] for row in rows]
    assert len(set(folders)) == 50
    assert [folder.split(".", 1)[0] for folder in folders] == [f"{i:02d}" for i in range(50)]
    assert all(re.fullmatch(r"\d\d\.[A-Za-z_]+", folder) for folder in folders)


def test_every_row_is_filled_in_and_coordinates_are_in_range():
    for place in load_places().values():
        assert place.name and place.region and place.country, place
        assert -90 <= place.latitude <= 90, place
        assert -180 <= place.longitude <= 180, place
        assert (place.latitude, place.longitude) != (0, 0), place


def test_spot_check_known_coordinates():
    eiffel = place_for("Eiffel Tower")
    assert (eiffel.latitude, eiffel.longitude) == (48.8584, 2.2945)
    assert place_for("Great Barrier Reef").latitude < 0  # southern hemisphere
    assert place_for("Golden Gate Bridge").longitude < 0  # western hemisphere
    assert place_for("Temple of Olympus").name == "Temple of Olympian Zeus"
    assert place_for("Temple of Olympus").region == "Athens"


@pytest.mark.parametrize(
    "folder, expected",
    [
        ("16.Eiffel_Tower", "Eiffel Tower"),
        ("00.Haleakala_National_Park", "Haleakala National Park"),
        ("35.Monumento_a_la_Revolucion", "Monumento a la Revolucion"),
        ("Eiffel Tower", "Eiffel Tower"),  # already a display name: unchanged
    ],
)
def test_display_name(folder, expected):
    assert display_name(folder) == expected


def test_display_name_of_every_folder_resolves_to_its_place():
    places = load_places()
    for row in _rows():
        place = places[display_name(row["folder"])]
        assert place.folder == row["folder"]
        assert place_for(display_name(row["folder"])) is place


def test_place_for_accepts_folder_pretty_name_and_any_case_and_rejects_unknown():
    dwarves = place_for("Wroclaws Dwarves")
    assert dwarves.name == "Wrocław's Dwarves"
    assert place_for("04.Wroclaws_Dwarves") is dwarves
    assert place_for("Wrocław's Dwarves") is dwarves
    assert place_for("wroclaws dwarves") is dwarves
    assert place_for("Atlantis") is None


def test_load_places_returns_a_copy_callers_cannot_poison():
    places = load_places()
    places.clear()
    assert len(load_places()) == 50


@pytest.mark.skipif(not SHARED_TRAIN.is_dir(), reason="shared sample dataset not present")
def test_classes_in_the_shared_sample_dataset_resolve():
    folders = sorted(p.name for p in SHARED_TRAIN.iterdir() if p.is_dir())
    assert folders, "shared train folder has no class folders"
    for folder in folders:
        place = place_for(display_name(folder))
        assert place is not None, folder
        assert place.folder == folder


def test_map_url_format():
    place = Place("99.Test", "Test", "Somewhere", "Nowhere", 48.8584, -2.5)
    assert place.map_url == "https://www.openstreetmap.org/?mlat=48.8584&mlon=-2.5000#map=15/48.8584/-2.5000"
    assert re.fullmatch(
        r"https://www\.openstreetmap\.org/\?mlat=-?\d+\.\d{4}&mlon=-?\d+\.\d{4}#map=15/-?\d+\.\d{4}/-?\d+\.\d{4}",
        place_for("Taj Mahal").map_url,
    )
