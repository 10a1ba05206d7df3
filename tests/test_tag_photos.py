"""Tagging a photo library (landmark_core.tagging, tags, geotag, ray_engine and tag_photos.py), mostly with
tiny_models.py's random-weight models on small synthetic folders; the shipped model only where the real
photos are compared with the page. Thresholds of 0 make every readable photo "known", so every one is placed."""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import importlib.util
import json
import math
import signal
import subprocess
import time
from pathlib import Path

import gradio as gr
import pytest
from PIL import Image

from app_server import SHIPPED_MODELS, is_shipped
from conftest import LANDMARKS, PYTHON, REPO, require, subprocess_env, synthetic_photo
from landmark_core import geotag, inference, model_files, tagging
from landmark_core.places import place_for
from landmark_core.tags import COLUMNS, TagRow, TagsFile, TagsFileError
from landmark_core.ui import LandmarkLens, batch, classify
from tiny_models import CLASSES

GPS_IFD = 0x8825
EXIF_IFD, DATE_TAKEN = 0x8769, 0x9003


def save_jpeg(path: Path, seed: int, exif: Image.Exif | None = None, size=(96, 72)) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    synthetic_photo(seed % 4, seed=seed, size=size).save(path, quality=90, **({"exif": exif.tobytes()} if exif else {}))
    return path


def exif_with(date: str | None = None, gps: tuple[float, float] | None = None) -> Image.Exif:
    exif = Image.Exif()
    exif[0x010F] = "Test camera"
    if date:
        exif.get_ifd(EXIF_IFD)[DATE_TAKEN] = date
    if gps:
        exif.get_ifd(GPS_IFD).update({1: "N", 2: (float(gps[0]), 0.0, 0.0), 3: "E", 4: (float(gps[1]), 0.0, 0.0)})
    return exif


@pytest.fixture
def library(tmp_path) -> Path:
    """a/, a/b/ and c/ of photos, a bad file between good ones, plus files that are not photos or are hidden."""
    root = tmp_path / "library"
    for index, name in enumerate(["a/01.jpg", "a/02.jpg", "a/b/03.jpg", "c/05.jpg"]):
        save_jpeg(root / name, seed=index)
    (root / "a" / "b" / "04_bad.jpg").write_bytes(b"not a photo at all")
    synthetic_photo(1, seed=9).save(root / "c" / "06.png")
    (root / "notes.txt").write_text("not a photo")
    save_jpeg(root / ".thumbnails" / "07.jpg", seed=7)
    return root


def tag(model, photos, out: Path, **options) -> list[TagRow]:
    return list(tagging.Tagging(model, photos, out, options.pop("gps_dir", None), options.pop("overwrite_gps", False)).rows(**options))


def csv_records(path: Path) -> list[dict]:
    with open(path, newline="", encoding="utf-8-sig") as handle:
        return list(csv.DictReader(handle))


def sha1(path: Path) -> str:
    return hashlib.sha1(path.read_bytes()).hexdigest()


# --- input: folders and file lists ---------------------------------------------------------------------------


def test_a_folder_is_listed_recursively_without_hidden_or_non_image_files(library):
    photos = tagging.list_photos(library)
    assert [photo.file for photo in photos] == ["a/01.jpg", "a/02.jpg", "a/b/03.jpg", "a/b/04_bad.jpg", "c/05.jpg", "c/06.png"]
    assert photos[0].path == library / "a" / "01.jpg" and photos[0].bytes == (library / "a" / "01.jpg").stat().st_size


def test_a_file_list_names_photos_relative_to_its_folder(library, tmp_path):
    outside = save_jpeg(tmp_path / "elsewhere" / "x.jpg", seed=3)
    listing = library / "list.txt"
    listing.write_text(f"# my picks\na/01.jpg\n\n  a/b/03.jpg  \n{outside}\na/01.jpg\nmissing.jpg\n")
    photos = tagging.list_photos(listing)
    assert [photo.file for photo in photos] == ["a/01.jpg", "a/b/03.jpg", str(outside), "a/01.jpg", "missing.jpg"]
    assert photos[-1].bytes is None  # tagged, with the reason, rather than dropped
    assert tagging.mirror_path(Path("/out"), str(outside)) == Path("/out", *outside.parts[1:])
    with pytest.raises(tagging.TaggingError, match="No such folder or file list"):
        tagging.list_photos(tmp_path / "nowhere")


def test_bad_files_in_the_middle_get_a_row_and_the_others_their_landmark(model, library, tmp_path):
    photos = tagging.list_photos(library)
    rows = tag(model, photos, tmp_path / "tags.csv", batch_size=2, workers=2)
    assert [row.file for row in rows] == [photo.file for photo in photos]  # in order, through worker processes
    bad = rows[3]
    assert "not an image we can read" in bad.error and bad.landmark == "" and bad.is_unknown is None and bad.top3 == ()
    for row in rows[:3] + rows[4:]:
        assert row.error == "" and row.landmark in CLASSES and row.is_unknown is False and 0 < row.probability <= 1
        assert row.top3[0] == (row.landmark, row.probability) and len(row.top3) == 3
        place = place_for(row.landmark)
        assert (row.latitude, row.longitude, row.map_url) == (place.latitude, place.longitude, place.map_url)


def test_rows_follow_the_unknown_rule_and_measure_the_distance(model, tmp_path):
    """A photo below the threshold gets no landmark and no place whatever its top probability, only its known
    score and closest guesses; a known one gets its place, and its distance from the photo's own GPS position."""
    entry = tagging.photo(save_jpeg(tmp_path / "p.jpg", seed=1), "p.jpg")
    prediction = inference.predict(model, entry.path, k=3)
    paris = (48.8566, 2.3522)
    item = tagging.Decoded(0, None, own_gps=paris)
    unknown = tagging.row(entry, item, dataclasses.replace(prediction, is_unknown=True, known_score=0.1))
    assert (unknown.landmark, unknown.probability, unknown.place, unknown.latitude, unknown.distance_km) == ("", None, "", None, None)
    assert unknown.is_unknown and unknown.known_score == 0.1 and unknown.top3[0][0] == prediction.best["label"]
    assert (unknown.photo_latitude, unknown.photo_longitude) == paris
    known = tagging.row(entry, item, dataclasses.replace(prediction, is_unknown=False))
    place = place_for(known.landmark)
    assert known.landmark == prediction.best["label"] and known.place == f"{place.region}, {place.country}"
    assert known.distance_km == pytest.approx(geotag.distance_km(paris, (place.latitude, place.longitude)))
    assert geotag.distance_km(paris, (51.5074, -0.1278)) == pytest.approx(344, abs=2)  # Paris-London


def test_batched_rows_are_the_single_photo_answers(model, library, tmp_path):
    """Batching crops a square around the predictor's centre crop: the same scores as one photo at a time, for
    photos of other shapes than the batch's first, with a crop (64) and resize (73) of different parity."""
    (library / "tall.jpg").unlink(missing_ok=True)
    save_jpeg(library / "tall.jpg", seed=11, size=(61, 140))
    save_jpeg(library / "wide.jpg", seed=12, size=(333, 80))
    photos = [photo for photo in tagging.list_photos(library) if "bad" not in photo.file]
    for row, photo in zip(tag(model, photos, tmp_path / "tags.csv", batch_size=8), photos):
        alone = inference.predict(model, photo.path, k=3)
        assert row.landmark == alone.best["label"] and row.known_score == pytest.approx(alone.known_score, abs=1e-5)
        assert [label for label, _ in row.top3] == [guess["label"] for guess in alone.top]


# --- output: CSV and JSON Lines, resumable ----------------------------------------------------------------------


def test_csv_schema(model, library, tmp_path):
    (library / "=sum.jpg").write_bytes(b"a spreadsheet formula for a name")
    out = tmp_path / "tags.csv"
    rows = tag(model, tagging.list_photos(library), out)
    assert out.read_bytes().startswith(b"\xef\xbb\xbf")  # spreadsheet apps then read it as UTF-8
    records = csv_records(out)
    assert list(records[0]) == COLUMNS and len(records) == len(rows) == 7
    formula = next(record for record in records if "sum" in record["file"])
    assert formula["file"] == "'=sum.jpg" and formula["error"] and formula["landmark"] == ""
    good = next(record for record in records if record["file"] == "a/01.jpg")
    assert good["is_unknown"] == "false" and float(good["latitude"]) == place_for(good["landmark"]).latitude
    assert not good["longitude"].startswith("'")  # a negative number stays a number
    labels = [guess.split("=")[0] for guess in good["top3"].split("; ")]
    assert labels[0] == good["landmark"] and len(labels) == 3
    assert int(good["bytes"]) == (library / "a" / "01.jpg").stat().st_size and int(good["mtime_ns"]) > 0


def test_jsonl_schema(model, library, tmp_path):
    out = tmp_path / "tags.jsonl"
    tag(model, tagging.list_photos(library), out)
    records = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert all(list(record) == COLUMNS for record in records) and len(records) == 6
    good, bad = records[0], records[3]
    assert isinstance(good["is_unknown"], bool) and 0 <= good["known_score"] <= 1 and isinstance(good["bytes"], int)
    assert [set(guess) for guess in good["top3"]] == [{"label", "probability"}] * 3 and good["top3"][0]["label"] == good["landmark"]
    assert bad["error"] and bad["is_unknown"] is None and bad["known_score"] is None and bad["top3"] == []
    assert TagRow.from_json(good) == TagRow.from_json(json.loads(json.dumps(TagRow.from_json(good).to_json())))


def test_a_rerun_skips_what_is_tagged_and_tags_what_changed(model, library, tmp_path):
    out = tmp_path / "tags.jsonl"
    tag(model, tagging.list_photos(library), out)
    save_jpeg(library / "a" / "new.jpg", seed=20)
    time.sleep(0.01)
    save_jpeg(library / "a" / "02.jpg", seed=21, size=(100, 80))  # edited since: another size and time
    job = tagging.Tagging(model, tagging.list_photos(library), out)
    assert sorted(photo.file for photo in job.pending) == ["a/02.jpg", "a/new.jpg"] and job.skipped == 5
    assert [row.file for row in job.rows()] == ["a/02.jpg", "a/new.jpg"]


def test_a_half_written_last_line_is_cut_before_appending(model, library, tmp_path):
    out = tmp_path / "tags.csv"
    tag(model, tagging.list_photos(library)[:2], out)
    complete = out.read_bytes()
    out.write_bytes(complete + b'a/b/03.jpg,Eiffel Tower,0.91')  # what a kill mid-write would leave
    assert len(TagsFile(out).done) == 2 and out.read_bytes() == complete
    tag(model, tagging.list_photos(library), out)
    assert [record["file"] for record in csv_records(out)] == ["a/01.jpg", "a/02.jpg", "a/b/03.jpg", "a/b/04_bad.jpg", "c/05.jpg", "c/06.png"]


def test_a_tags_file_of_another_shape_is_refused(tmp_path):
    (tmp_path / "other.csv").write_text("name,label\nx.jpg,y\n")
    with pytest.raises(TagsFileError, match="other columns"):
        TagsFile(tmp_path / "other.csv")


def test_resume_after_sigkill_loses_and_repeats_nothing(model_dir, tmp_path):
    """The command, killed mid-run (SIGKILL: no clean-up at all), then run again to the end."""
    folder = tmp_path / "many"
    for index in range(300):
        save_jpeg(folder / f"{index // 100}" / f"{index:03d}.jpg", seed=index, size=(48, 36))
    out = tmp_path / "tags.csv"
    command = [PYTHON, "tag_photos.py", str(folder), "--out", str(out), "--model", str(model_dir / "scratch.pt"), "--workers", "1"]
    # One photo per batch: rows trickle out, so the kill lands mid-run.
    running = subprocess.Popen([*command, "--batch-size", "1"], cwd=REPO, env=subprocess_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and running.poll() is None and (not out.is_file() or out.read_bytes().count(b"\n") < 20):
        time.sleep(0.01)
    running.send_signal(signal.SIGKILL)
    running.wait(timeout=60)
    written = out.read_bytes().count(b"\n") - 1  # complete rows, after the header; a half row would be cut
    assert 0 < written < 300, f"the run was not caught mid-way ({written} rows)"
    done = subprocess.run(command, cwd=REPO, env=subprocess_env(), capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert f"{written} already in" in done.stderr
    files = [record["file"] for record in csv_records(out)]
    assert len(files) == len(set(files)) == 300


# --- GPS ---------------------------------------------------------------------------------------------------------


def exif_position(path: Path) -> tuple[float, float] | None:
    """Read back with Pillow's own EXIF reader, not landmark_core.geotag's."""
    gps = Image.open(path).getexif().get_ifd(GPS_IFD)
    if not gps:
        return None
    latitude, longitude = (sum(float(part) / 60**i for i, part in enumerate(gps[tag])) for tag in (2, 4))
    return (-latitude if gps[1] == "S" else latitude, -longitude if gps[3] == "W" else longitude)


def metres_apart(a: tuple[float, float], b: tuple[float, float]) -> float:
    north = (a[0] - b[0]) * 111_320
    east = (a[1] - b[1]) * 111_320 * math.cos(math.radians(a[0]))
    return math.hypot(north, east)


def scan(data: bytes) -> bytes:
    """A JPEG from its image data on (SOS onwards), found by walking its segments."""
    position = 2
    while data[position + 1] != 0xDA:
        position += 2 + int.from_bytes(data[position + 2 : position + 4], "big")
    return data[position:]


def test_gps_is_written_into_copies_losslessly_and_originals_stay(model, tmp_path):
    root = tmp_path / "photos"
    plain = save_jpeg(root / "plain.jpg", seed=1)
    save_jpeg(root / "trip" / "dated.jpg", seed=2, exif=exif_with(date="2021:07:14 10:00:00"))
    save_jpeg(root / "located.jpg", seed=3, exif=exif_with(gps=(10.0, 20.0)))
    synthetic_photo(0, seed=4).save(root / "drawing.png")
    before = {path: sha1(path) for path in root.rglob("*.*")}
    out_dir = tmp_path / "with_gps"
    rows = {row.file: row for row in tag(model, tagging.list_photos(root), tmp_path / "tags.csv", gps_dir=out_dir)}

    for name in ("plain.jpg", "trip/dated.jpg"):
        assert rows[name].geotag == geotag.WRITTEN
        written = exif_position(out_dir / name)
        assert metres_apart(written, (rows[name].latitude, rows[name].longitude)) < 100
        place = place_for(rows[name].landmark)
        assert metres_apart(written, (place.latitude, place.longitude)) < 100
        assert scan((out_dir / name).read_bytes()) == scan((root / name).read_bytes())  # image data byte-identical
    assert Image.open(out_dir / "trip" / "dated.jpg").getexif().get_ifd(EXIF_IFD)[DATE_TAKEN] == "2021:07:14 10:00:00"
    assert rows["located.jpg"].geotag == geotag.KEPT and exif_position(out_dir / "located.jpg") == (10.0, 20.0)
    assert rows["located.jpg"].photo_latitude == 10.0 and rows["located.jpg"].distance_km > 100
    assert rows["drawing.png"].geotag == geotag.NOT_JPEG and not (out_dir / "drawing.png").exists()
    assert {path: sha1(path) for path in root.rglob("*.*")} == before
    assert (out_dir / "plain.jpg").stat().st_mtime_ns == plain.stat().st_mtime_ns

    overwritten = tmp_path / "overwritten"
    row = tag(model, [tagging.photo(root / "located.jpg", "located.jpg")], tmp_path / "again.csv", gps_dir=overwritten, overwrite_gps=True)[0]
    assert row.geotag == geotag.WRITTEN and metres_apart(exif_position(overwritten / "located.jpg"), (row.latitude, row.longitude)) < 100
    assert {path: sha1(path) for path in root.rglob("*.*")} == before


def test_a_photo_without_exif_gets_one_segment_and_nothing_else(tmp_path):
    original = save_jpeg(tmp_path / "p.jpg", seed=5).read_bytes()
    assert original[2:4] == b"\xff\xe0"  # Pillow writes a JFIF segment first
    copy = geotag.with_gps(original, -33.8568, 151.2153)
    start = 2 + 2 + int.from_bytes(original[4:6], "big")  # after SOI and the JFIF segment, which must stay first
    length = int.from_bytes(copy[start + 2 : start + 4], "big")
    assert copy[start : start + 2] == b"\xff\xe1" and copy[start + 4 : start + 10] == b"Exif\x00\x00"
    assert copy[:start] + copy[start + 2 + length :] == original


# --- the page and the command share one path -------------------------------------------------------------------


def test_the_batch_tab_writes_the_commands_rows(model_dir, model, library, tmp_path):
    files = [str(photo.path) for photo in tagging.list_photos(library)]
    lens = LandmarkLens(model_dir, samples=[])
    shown = batch.tag(lens, files, "scratch", gr.Progress())
    photos = [tagging.photo(file, Path(file).name) for file in files]
    tag(model, photos, tmp_path / "command.csv", batch_size=7, workers=1)
    assert Path(shown.csv).read_text(encoding="utf-8-sig") == (tmp_path / "command.csv").read_text(encoding="utf-8-sig")
    assert [row[0] for row in shown.table] == [photo.file for photo in photos] and "04_bad.jpg is not an image" in shown.table[3][-1]


def test_the_classify_tab_offers_the_photo_with_its_location(model_dir, tmp_path):
    lens = LandmarkLens(model_dir, samples=[])
    photo = save_jpeg(tmp_path / "upload" / "holiday.jpg", seed=6)
    shown = classify.answer(lens, {"path": str(photo)}, "transfer", 3, False)
    best = shown.json["top"][0]["place"]
    assert Path(shown.located).name == "holiday.jpg" and metres_apart(exif_position(Path(shown.located)), (best["latitude"], best["longitude"])) < 100
    prediction = inference.predict(lens.model("transfer"), photo, 3)
    assert classify.located_copy(lens, str(photo), dataclasses.replace(prediction, is_unknown=True)) is None
    synthetic_photo(1, seed=7).save(tmp_path / "upload" / "drawing.png")
    assert classify.answer(lens, {"path": str(tmp_path / "upload" / "drawing.png")}, "transfer", 3, False).located is None


@pytest.mark.slow
def test_the_command_labels_the_shared_photos_as_the_page_does(tmp_path):
    require(LANDMARKS.is_dir(), f"real photos not found at {LANDMARKS}")
    require(is_shipped("transfer"), f"no shipped transfer model in {SHIPPED_MODELS} (python train_transfer.py)")
    model = model_files.load_model(SHIPPED_MODELS, "transfer")
    photos = tagging.list_photos(LANDMARKS / "test")
    rows = tag(model, photos, tmp_path / "tags.csv", batch_size=32, workers=2)
    assert len(rows) == len(photos) > 100
    for photo, row in zip(photos, rows):
        alone = inference.predict(model, photo.path, k=3)  # what the Classify tab and /predict answer
        assert (row.landmark, row.is_unknown) == ("" if alone.is_unknown else alone.best["label"], alone.is_unknown), photo.file


# --- Ray (about 25 s: most of it starting a local Ray instance) ---------------------------------------------------


def test_the_ray_engine_writes_the_local_engines_rows(model, library, tmp_path):
    require(importlib.util.find_spec("ray") is not None, "ray is not installed (pip install -r requirements-scale.txt)")
    import ray

    from landmark_core import ray_engine

    photos = tagging.list_photos(library)
    tag(model, photos, tmp_path / "local.csv", batch_size=2, workers=1)
    try:
        tag(model, photos, tmp_path / "ray.csv", engine=ray_engine.tag_ray, batch_size=2, workers=2)
    finally:
        ray.shutdown()
    assert (tmp_path / "ray.csv").read_text(encoding="utf-8-sig") == (tmp_path / "local.csv").read_text(encoding="utf-8-sig")
