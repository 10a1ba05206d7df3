"""landmark_core.tags alone: the tags file's cells, records and resuming, against hand-written answers.

Fast (no model, no app, no photos): `tests/test_tag_photos.py` checks the same file end to end through tagging.
"""

from __future__ import annotations

import json

import pytest

from landmark_core import tags
from landmark_core.tags import COLUMNS, TagRow, TagsFile, TagsFileError

HEADER = ",".join(COLUMNS)

FULL = TagRow(
    file="trips/paris/IMG_1.jpg",
    landmark="Eiffel Tower",
    probability=0.97123,
    is_unknown=False,
    known_score=0.5,
    top3=(("Eiffel Tower", 0.97123), ("Louvre", 0.01), ("Big Ben", 0.00005)),
    place="Paris, France",
    latitude=48.8584,
    longitude=2.2945,
    map_url="https://www.openstreetmap.org/?mlat=48.8584&mlon=2.2945#map=15/48.8584/2.2945",
    photo_latitude=48.85831234567,
    photo_longitude=-2.5,
    distance_km=1.23456,
    geotag="written",
    error="",
    bytes=1234,
    mtime_ns=1700000000123456789,
)


def test_csv_cells_of_a_full_row_against_hand_written_text():
    assert tags.csv_cells(FULL) == [
        "trips/paris/IMG_1.jpg",
        "Eiffel Tower",
        "0.9712",  # probability and known score: 4 decimals
        "false",
        "0.5000",
        "Eiffel Tower=0.9712; Louvre=0.0100; Big Ben=0.0001",
        "Paris, France",
        "48.858400",  # coordinates: 6 decimals
        "2.294500",
        "https://www.openstreetmap.org/?mlat=48.8584&mlon=2.2945#map=15/48.8584/2.2945",
        "48.858312",
        "-2.500000",
        "1.235",  # a distance: to the metre
        "written",
        "",
        "1234",
        "1700000000123456789",
    ]


def test_csv_cells_of_an_unknown_photo_and_of_an_unreadable_one():
    unknown = TagRow(file="a.jpg", is_unknown=True, known_score=0.12345, top3=(("Louvre", 0.4),), bytes=0, mtime_ns=7)
    assert tags.csv_cells(unknown) == ["a.jpg", "", "", "true", "0.1235", "Louvre=0.4000", "", "", "", "", "", "", "", "", "", "0", "7"]
    broken = TagRow(file="b.jpg", error="not an image")
    assert tags.csv_cells(broken) == ["b.jpg", "", "", "", "", "", "", "", "", "", "", "", "", "", "not an image", "", ""]


@pytest.mark.parametrize(
    "name, cell",
    [
        ("=cmd|' /C calc'!A0", "'=cmd|' /C calc'!A0"),
        ("+1.jpg", "'+1.jpg"),
        ("-1.jpg", "'-1.jpg"),
        ("@sum.jpg", "'@sum.jpg"),
        ("\tx.jpg", "'\tx.jpg"),
        ("\rx.jpg", "'\rx.jpg"),
        ("plain.jpg", "plain.jpg"),
        ("'quoted.jpg", "'quoted.jpg"),
        ("a=b.jpg", "a=b.jpg"),
        ("", ""),
    ],
)
def test_a_name_a_spreadsheet_would_run_is_kept_as_text_and_read_back(name, cell):
    assert tags.csv_cells(TagRow(file=name))[0] == cell
    assert tags._csv_text(cell) == name


def test_csv_text_leaves_a_quote_alone_unless_it_guards_a_formula():
    assert tags._csv_text("'x.jpg") == "'x.jpg"
    assert tags._csv_text("''=x") == "''=x"
    assert tags._csv_text("'") == "'"
    assert tags._csv_text("x'=y") == "x'=y"


@pytest.mark.parametrize("cell, value", [("", None), (None, None), ("0", 0), (0, 0), ("12", 12), (1234, 1234)])
def test_optional_int(cell, value):
    assert tags._optional_int(cell) == value


def test_the_json_record_and_back():
    record = FULL.to_json()
    assert list(record) == COLUMNS
    assert record["top3"] == [
        {"label": "Eiffel Tower", "probability": 0.97123},
        {"label": "Louvre", "probability": 0.01},
        {"label": "Big Ben", "probability": 0.00005},
    ]
    assert record["probability"] == 0.97123 and record["distance_km"] == 1.23456  # JSON Lines keeps every digit
    assert TagRow.from_json(json.loads(json.dumps(record))) == FULL
    assert TagRow.from_json({"file": "x.jpg", "newer_column": 1, "top3": None}) == TagRow(file="x.jpg")
    assert TagRow.from_json({"file": "x.jpg"}) == TagRow(file="x.jpg")
    assert FULL.key == ("trips/paris/IMG_1.jpg", 1234, 1700000000123456789)


@pytest.mark.parametrize("chunk", [1, 2, 3, 5, 1 << 16])
@pytest.mark.parametrize(
    "content",
    [b"", b"\n", b"partial", b"a,b\n", b"a,b\nc,d\n", b"a,b\nc,d\npart", b"a,b\nc,d\nlonger partial line", b"x\n" * 20 + b"yy"],
)
def test_a_half_written_last_line_is_cut_whatever_the_chunk(tmp_path, monkeypatch, chunk, content):
    """Against the plain answer: everything up to and with the last newline."""
    monkeypatch.setattr(tags, "TAIL_CHUNK", chunk)
    path = tmp_path / "tags.csv"
    path.write_bytes(content)
    tags._cut_half_written_line(path)
    assert path.read_bytes() == content[: content.rfind(b"\n") + 1]


def test_a_csv_file_is_written_with_a_bom_and_one_header_and_resumed(tmp_path):
    path = tmp_path / "new folder" / "tags.csv"
    first = TagsFile(path)
    assert not first.jsonl and first.done == set()
    with first as out:
        out.write(FULL)
        assert path.read_bytes().endswith(b"1700000000123456789\r\n")  # flushed row by row
        out.write(TagRow(file="=evil.jpg", error="not an image", bytes=3, mtime_ns=None))
    assert first.done == {FULL.key, ("=evil.jpg", 3, None)}
    text = path.read_bytes().decode("utf-8")
    assert text == (
        "\ufeff" + HEADER + "\r\n"
        + ",".join(f'"{cell}"' if "," in cell else cell for cell in tags.csv_cells(FULL)) + "\r\n"
        + "'=evil.jpg,,,,,,,,,,,,,,not an image,3,\r\n"
    )
    again = TagsFile(path)
    assert again.done == {FULL.key, ("=evil.jpg", 3, None)}
    with again as out:
        out.write(TagRow(file="c.jpg", bytes=1, mtime_ns=2))
    assert path.read_bytes().decode("utf-8") == text + "c.jpg,,,,,,,,,,,,,,,1,2\r\n"  # no second mark or header
    assert TagsFile(path).done == {FULL.key, ("=evil.jpg", 3, None), ("c.jpg", 1, 2)}


def test_a_jsonl_file_keeps_accents_and_is_resumed(tmp_path):
    path = tmp_path / "Tags.JSONL"
    row = TagRow(file="été/Sacré-Cœur.jpg", landmark="Sacré-Cœur", bytes=10, mtime_ns=20)
    with TagsFile(path) as out:
        assert out.jsonl
        out.write(row)
    assert path.read_bytes() == (json.dumps(row.to_json(), ensure_ascii=False) + "\n").encode("utf-8")
    assert "Sacré-Cœur" in path.read_text(encoding="utf-8")
    path.write_bytes(path.read_bytes() + b'\n  \n{"file": "half')  # blank lines, and a killed run's half line
    assert TagsFile(path).done == {("été/Sacré-Cœur.jpg", 10, 20)}
    assert path.read_bytes().endswith(b"\n  \n")


def test_an_empty_file_is_a_new_one(tmp_path):
    path = tmp_path / "tags.csv"
    path.write_bytes(b"")
    assert TagsFile(path).done == set()
    with TagsFile(path) as out:
        out.write(TagRow(file="a.jpg"))
    assert path.read_text(encoding="utf-8") == "\ufeff" + HEADER + "\n" + "a.jpg" + "," * 16 + "\n"


@pytest.mark.parametrize(
    "name, content, message",
    [
        ("tags.csv", "file,landmark\r\nx.jpg,\r\n", "has other columns than this version writes; choose another --out."),
        ("tags.csv", HEADER + "\r\nx.jpg" + "," * 15 + "many,2\r\n", "is not a tags file this version wrote; choose another --out."),
        ("tags.csv", HEADER + "\r\nx.jpg,only,three\r\n", "is not a tags file this version wrote; choose another --out."),
        ("tags.jsonl", '{"landmark": "x"}\n', "is not a tags file this version wrote; choose another --out."),
        ("tags.jsonl", '{"file": "x", "bytes": "many", "mtime_ns": 1}\n', "is not a tags file this version wrote; choose another --out."),
        ("tags.jsonl", '["file"]\n', "is not a tags file this version wrote; choose another --out."),
    ],
)
def test_a_file_of_another_shape_is_refused_by_name(tmp_path, name, content, message):
    path = tmp_path / name
    path.write_text(content, encoding="utf-8")
    with pytest.raises(TagsFileError) as refused:
        TagsFile(path)
    assert str(refused.value) == f"{path} {message}"


def test_folders_that_do_not_exist_yet_are_made(tmp_path):
    path = tmp_path / "a" / "b" / "c" / "tags.jsonl"
    with TagsFile(path) as out:
        out.write(TagRow(file="x.jpg"))
    assert TagRow.from_json(json.loads(path.read_text(encoding="utf-8"))) == TagRow(file="x.jpg")


@pytest.mark.parametrize("name", ["a\rb.jpg", "a\nb.jpg", "a\r\nb.jpg", 'say "cheese", please.jpg'])
def test_a_name_with_a_line_break_or_quotes_is_resumed_as_the_same_photo(tmp_path, name):
    """Linux allows any character but / in a name; CSV quotes it, and reading it back must not turn a lone \\r
    into \\n (the photo would be tagged again on every rerun)."""
    path = tmp_path / "tags.csv"
    with TagsFile(path) as out:
        out.write(TagRow(file=name, bytes=5, mtime_ns=6))
        out.write(TagRow(file="next.jpg", bytes=1, mtime_ns=1))
    assert TagsFile(path).done == {(name, 5, 6), ("next.jpg", 1, 1)}
