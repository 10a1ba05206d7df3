import csv
import re

import pytest

from conftest import LANDMARKS, require
from landmark_core.places import CSV_PATH, Place, display_name, load_places, place_for

SHARED_TRAIN = LANDMARKS / "train"

# A second source of truth, written once from where each landmark is known to be, not copied from places.csv: its
# country and a box (south, north, west, east in degrees) it must fall in. Boxes are a city block for a
# building and the whole park or reef for a natural site, so a typo, a swapped latitude and longitude, a lost
# minus sign or another landmark's coordinates land outside (but for close neighbours: Sydney's bridge and
# opera house).
REFERENCE = {
    "00.Haleakala_National_Park": ("United States", (20.5, 21.0, -156.5, -156.0)),
    "01.Mount_Rainier_National_Park": ("United States", (46.7, 47.0, -122.0, -121.4)),
    "02.Ljubljana_Castle": ("Slovenia", (46.04, 46.06, 14.49, 14.52)),
    "03.Dead_Sea": ("Israel / Jordan / Palestine", (31.0, 31.8, 35.3, 35.6)),
    "04.Wroclaws_Dwarves": ("Poland", (51.05, 51.15, 16.95, 17.1)),
    "05.London_Olympic_Stadium": ("United Kingdom", (51.53, 51.55, -0.03, 0.0)),
    "06.Niagara_Falls": ("Canada / United States", (43.05, 43.1, -79.1, -79.05)),
    "07.Stonehenge": ("United Kingdom", (51.17, 51.19, -1.84, -1.81)),
    "08.Grand_Canyon": ("United States", (35.9, 36.5, -113.0, -111.8)),
    "09.Golden_Gate_Bridge": ("United States", (37.80, 37.84, -122.49, -122.46)),
    "10.Edinburgh_Castle": ("United Kingdom", (55.94, 55.96, -3.21, -3.19)),
    "11.Mount_Rushmore_National_Memorial": ("United States", (43.86, 43.9, -103.48, -103.44)),
    "12.Kantanagar_Temple": ("Bangladesh", (25.7, 25.9, 88.6, 88.75)),
    "13.Yellowstone_National_Park": ("United States", (44.1, 45.1, -111.2, -109.8)),
    "14.Terminal_Tower": ("United States", (41.49, 41.51, -81.7, -81.68)),
    "15.Central_Park": ("United States", (40.76, 40.80, -73.99, -73.94)),
    "16.Eiffel_Tower": ("France", (48.85, 48.87, 2.28, 2.30)),
    "17.Changdeokgung": ("South Korea", (37.57, 37.59, 126.98, 127.0)),
    "18.Delicate_Arch": ("United States", (38.7, 38.8, -109.55, -109.45)),
    "19.Vienna_City_Hall": ("Austria", (48.20, 48.22, 16.35, 16.37)),
    "20.Matterhorn": ("Switzerland / Italy", (45.95, 46.0, 7.63, 7.68)),
    "21.Taj_Mahal": ("India", (27.16, 27.18, 78.03, 78.05)),
    "22.Moscow_Raceway": ("Russia", (55.9, 56.1, 36.1, 36.4)),
    "23.Externsteine": ("Germany", (51.85, 51.89, 8.9, 8.94)),
    "24.Soreq_Cave": ("Israel", (31.74, 31.77, 35.0, 35.04)),
    "25.Banff_National_Park": ("Canada", (50.7, 52.2, -117.0, -115.3)),
    "26.Pont_du_Gard": ("France", (43.93, 43.96, 4.52, 4.55)),
    "27.Seattle_Japanese_Garden": ("United States", (47.62, 47.64, -122.31, -122.28)),
    "28.Sydney_Harbour_Bridge": ("Australia", (-33.86, -33.84, 151.20, 151.22)),
    "29.Petronas_Towers": ("Malaysia", (3.15, 3.17, 101.70, 101.72)),
    "30.Brooklyn_Bridge": ("United States", (40.70, 40.71, -74.0, -73.99)),
    "31.Washington_Monument": ("United States", (38.88, 38.90, -77.04, -77.03)),
    "32.Hanging_Temple": ("China", (39.6, 39.7, 113.65, 113.75)),
    "33.Sydney_Opera_House": ("Australia", (-33.86, -33.85, 151.21, 151.22)),
    "34.Great_Barrier_Reef": ("Australia", (-24.5, -10.5, 142.5, 154.0)),
    "35.Monumento_a_la_Revolucion": ("Mexico", (19.43, 19.44, -99.16, -99.15)),
    "36.Badlands_National_Park": ("United States", (43.5, 44.0, -102.9, -101.8)),
    "37.Atomium": ("Belgium", (50.89, 50.90, 4.34, 4.35)),
    "38.Forth_Bridge": ("United Kingdom", (55.99, 56.01, -3.4, -3.38)),
    "39.Gateway_of_India": ("India", (18.91, 18.93, 72.83, 72.84)),
    "40.Stockholm_City_Hall": ("Sweden", (59.32, 59.33, 18.05, 18.06)),
    "41.Machu_Picchu": ("Peru", (-13.17, -13.15, -72.55, -72.54)),
    "42.Death_Valley_National_Park": ("United States", (35.6, 37.2, -117.8, -116.2)),
    "43.Gullfoss_Falls": ("Iceland", (64.3, 64.34, -20.14, -20.1)),
    "44.Trevi_Fountain": ("Italy", (41.90, 41.91, 12.48, 12.49)),
    "45.Temple_of_Heaven": ("China", (39.87, 39.89, 116.40, 116.42)),
    "46.Great_Wall_of_China": ("China", (40.4, 40.5, 116.5, 116.6)),
    "47.Prague_Astronomical_Clock": ("Czech Republic", (50.08, 50.09, 14.41, 14.43)),
    "48.Whitby_Abbey": ("United Kingdom", (54.48, 54.49, -0.62, -0.6)),
    "49.Temple_of_Olympus": ("Greece", (37.96, 37.98, 23.72, 23.74)),
}


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


def test_every_place_is_in_its_reference_country_and_box():
    places = {place.folder: place for place in load_places().values()}
    assert set(places) == set(REFERENCE)
    wrong = []
    for folder, (country, (south, north, west, east)) in REFERENCE.items():
        place = places[folder]
        if place.country != country or not (south <= place.latitude <= north and west <= place.longitude <= east):
            wrong.append(f"{folder}: {place.country} ({place.latitude}, {place.longitude})")
    assert not wrong, "rows that disagree with the reference:\n" + "\n".join(wrong)


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


def test_classes_in_the_shared_sample_dataset_resolve():
    require(SHARED_TRAIN.is_dir(), f"the shared training photos are not at {SHARED_TRAIN}")
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
