"""Bad and unusual image files, generated here for every run (no stored photos), through the library
(images.load_rgb, inference.predict) and through the running app's /predict endpoint.

Each file gets a message a user can read or a correct prediction: never a crash, a stack trace or a worker
left hanging. The corpus is made from one photo (the shared Eiffel Tower photo when present, else a
synthetic one), so the files that are that photo in another encoding must also answer like it.
"""

from __future__ import annotations

import io
import re
import struct
import time
import zlib
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import httpx
import numpy as np
import pytest
from gradio_client.exceptions import AppError
from PIL import Image

from app_server import SHIPPED_MODELS, is_shipped
from conftest import EIFFEL_SAMPLE, UDACITY_SAMPLES, require, synthetic_photo
from landmark_core import images, inference, model_files

# Small enough that no model's JPEG decoding scales it down (see images.load_rgb), so a JPEG and a PNG of
# the same pixels reach the model alike.
PHOTO_SIZE = (128, 192)
ORIENTATION = 0x0112  # the EXIF tag
# What a viewer does to the stored pixels to show them upright, for each EXIF orientation (the EXIF spec).
SHOWN_BY = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}
UNDONE_BY = {Image.Transpose.ROTATE_90: Image.Transpose.ROTATE_270, Image.Transpose.ROTATE_270: Image.Transpose.ROTATE_90}
BOMB_SIDE = 20_000
BOMB_SECONDS = 2.0
BOMB_MEMORY_BYTES = 500 * 2**20
FOLLOW_UP_TIMEOUT_S = 30
# What a stack trace or an exception's repr leaks into a message; none belongs in front of a user.
NOT_FOR_USERS = re.compile(r"Traceback|File \"|\b[A-Z][A-Za-z]*(Error|Exception)\b|<class |0x[0-9a-f]{6,}")


# --- the corpus -----------------------------------------------------------------------------------------


def base_photo() -> Image.Image:
    if EIFFEL_SAMPLE is not None:
        return Image.open(EIFFEL_SAMPLE).convert("RGB").resize(PHOTO_SIZE, Image.Resampling.LANCZOS)
    return synthetic_photo(0, seed=5, size=PHOTO_SIZE)


def save(image: Image.Image, path: Path, **options) -> None:
    if path.suffix == ".jpg":
        options = {"quality": 100, "subsampling": 0} | options  # 4:4:4 at quality 100: lossless enough to compare
    image.save(path, **options)


def jpeg_bytes(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=90)
    return buffer.getvalue()


def truncated_jpeg(photo: Image.Image, path: Path) -> None:
    whole = jpeg_bytes(photo)
    path.write_bytes(whole[: len(whole) // 2])


def exif_rotated(photo: Image.Image, path: Path, orientation: int = 6) -> None:
    """The photo stored turned (as a phone stores it), with the EXIF tag that shows it upright again."""
    shown_by = SHOWN_BY[orientation]
    exif = Image.Exif()
    exif[ORIENTATION] = orientation
    save(photo.transpose(UNDONE_BY.get(shown_by, shown_by)), path, exif=exif.tobytes())


def as_shown(path: Path) -> Image.Image:
    """The file's stored pixels, exactly as decoded, turned the way its EXIF tag tells a viewer to show them."""
    with Image.open(path) as stored:
        return stored.convert("RGB").transpose(SHOWN_BY[stored.getexif()[ORIENTATION]])


def png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_bomb(path: Path, side: int = BOMB_SIDE) -> None:
    """A valid side x side black 1-bit PNG of ~50 KB (decoded as RGB: 1.2 GB), compressed row by row so that
    making it costs a fraction of a second and no memory."""
    compressor, row = zlib.compressobj(9), bytes(1 + (side + 7) // 8)  # filter byte + packed pixels
    pixels = b"".join(compressor.compress(row) for _ in range(side)) + compressor.flush()
    header = struct.pack(">IIBBBBB", side, side, 1, 0, 0, 0, 0)  # 1 bit per pixel, greyscale
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", header) + png_chunk(b"IDAT", pixels) + png_chunk(b"IEND", b""))


def palette_with_transparency(photo: Image.Image, path: Path) -> None:
    image = photo.quantize(256)
    save(image, path, transparency=0)  # palette entry 0 is see-through


def with_alpha(photo: Image.Image, mode: str) -> Image.Image:
    """The photo fading out towards the bottom: partly transparent pixels must be flattened, not dropped."""
    image = photo.convert(mode)
    fade = np.linspace(255, 64, photo.height, dtype=np.uint8)[:, None].repeat(photo.width, axis=1)
    image.putalpha(Image.fromarray(fade, "L"))
    return image


def animated_gif(photo: Image.Image, path: Path) -> None:
    frames = [photo.convert("P"), photo.transpose(Image.Transpose.FLIP_LEFT_RIGHT).convert("P"), Image.new("P", photo.size)]
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=100, loop=0)


def grey_16_bit(photo: Image.Image) -> Image.Image:
    image = Image.fromarray(np.asarray(photo.convert("L"), dtype=np.uint16) * 257)
    assert image.mode == "I;16"
    return image


@dataclass(frozen=True)
class Case:
    file: str  # its name (the suffix a user's file would have)
    make: Callable[[Image.Image, Path], None]  # writes the file from the base photo
    refused: str | None = None  # a pattern the message must match; None: the file must be classified
    size: tuple[int, int] | None = None  # the upright size load_rgb must return (default: the photo's)
    like: tuple[str, float] | None = None  # (a corpus file, tolerance): each probability that close to the file's


CASES = [
    Case("empty.jpg", lambda photo, path: path.write_bytes(b""), refused=r"empty \(0 bytes\)"),
    Case("notes.jpg", lambda photo, path: path.write_text("Dear diary, this is not a photo."), refused="not an image we can read"),
    Case("truncated.jpg", truncated_jpeg, refused="truncated or corrupt"),
    Case("bomb.png", lambda photo, path: png_bomb(path), refused="too large to be a photo"),
    Case("cmyk.jpg", lambda photo, path: save(photo.convert("CMYK"), path), like=("upright.png", 0.05)),
    Case("grey16.png", lambda photo, path: save(grey_16_bit(photo), path)),
    Case("palette.png", palette_with_transparency),
    Case("rgba.png", lambda photo, path: save(with_alpha(photo, "RGB"), path)),
    Case("la.png", lambda photo, path: save(with_alpha(photo, "L"), path)),
    Case("animated.gif", animated_gif),
    Case("pixel.png", lambda photo, path: save(photo.resize((1, 1)), path), size=(1, 1)),
    Case("panorama.jpg", lambda photo, path: save(photo.resize((2000, 200)), path), size=(2000, 200)),
    Case("exif_rotated.jpg", exif_rotated, like=("exif_shown.png", 1e-4)),
]
CASE_IDS = [case.file for case in CASES]


@pytest.fixture(scope="module")
def photo() -> Image.Image:
    return base_photo()


@pytest.fixture(scope="module")
def corpus(tmp_path_factory, photo) -> dict[str, Path]:
    """Every case's file, plus the references: the photo (`upright.png`) and what the EXIF-rotated file shows."""
    folder = tmp_path_factory.mktemp("bad_inputs")
    for case in CASES:
        case.make(photo, folder / case.file)
    save(photo, folder / "upright.png")
    save(as_shown(folder / "exif_rotated.jpg"), folder / "exif_shown.png")
    return {path.name: path for path in folder.iterdir()}


@pytest.fixture(scope="module")
def model(app_models) -> model_files.LoadedModel:
    """The model the app answers with by default (the shipped transfer model when present)."""
    return model_files.load_model(app_models, "transfer")


# --- checks ---------------------------------------------------------------------------------------------


def assert_user_readable(message: str) -> None:
    assert message.strip() and not NOT_FOR_USERS.search(message), f"not a message for users: {message!r}"


def probabilities(answer: dict, classes: list[str]) -> dict[str, float]:
    """A /predict answer (or Prediction.to_json()) checked for shape, as {label: probability}."""
    top = answer["top"]
    assert top and all(guess["label"] in classes and 0 <= guess["probability"] <= 1 for guess in top)
    values = [guess["probability"] for guess in top]
    assert values == sorted(values, reverse=True)
    return {guess["label"]: guess["probability"] for guess in top}


def assert_alike(answer: dict, reference: dict, classes: list[str], tolerance: float) -> None:
    assert probabilities(answer, classes) == pytest.approx(probabilities(reference, classes), abs=tolerance)


@contextmanager
def memory_growth(pid: int | str = "self"):
    """Yields a dict whose "bytes", once the block ends, is how far the process's peak resident memory rose
    above its resident memory at the start (the peak is reset first, Linux /proc)."""
    status = Path(f"/proc/{pid}/status")

    def kilobytes(field: str) -> int:
        return next(int(line.split()[1]) for line in status.read_text().splitlines() if line.startswith(field + ":"))

    Path(f"/proc/{pid}/clear_refs").write_text("5")  # VmHWM := VmRSS
    start, growth = kilobytes("VmRSS"), {}
    yield growth
    growth["bytes"] = (kilobytes("VmHWM") - start) * 1024


# --- through the library --------------------------------------------------------------------------------


def predict_all(model: model_files.LoadedModel, path: Path) -> dict:
    return inference.predict(model, path, k=len(model.class_names)).to_json()


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_library_reads_or_refuses_with_a_message(case, corpus, model, photo):
    path = corpus[case.file]
    if case.refused:
        for decode in (images.load_rgb, lambda file: inference.predict(model, file)):
            with pytest.raises(images.ImageError, match=case.refused) as error:
                decode(path)
            assert_user_readable(str(error.value))
        return
    image = images.load_rgb(path)
    assert image.mode == "RGB" and image.size == (case.size or photo.size)
    answer = predict_all(model, path)
    probabilities(answer, model.class_names)
    if case.like:
        reference, tolerance = case.like
        assert_alike(answer, predict_all(model, corpus[reference]), model.class_names, tolerance)


@pytest.fixture(scope="module")
def unsure_photo() -> Image.Image:
    """A synthetic photo no model is sure about: turning it moves every probability, so a wrong turn shows."""
    return synthetic_photo(1, seed=9, size=PHOTO_SIZE)


@pytest.mark.parametrize("orientation", sorted(SHOWN_BY))
def test_every_exif_orientation_predicts_like_the_upright_photo(orientation, unsure_photo, model, tmp_path):
    exif_rotated(unsure_photo, tmp_path / "turned.jpg", orientation)
    shown = as_shown(tmp_path / "turned.jpg")
    assert np.array_equal(np.asarray(images.load_rgb(tmp_path / "turned.jpg")), np.asarray(shown))
    save(shown, tmp_path / "shown.png")
    turned, upright = (predict_all(model, tmp_path / name) for name in ("turned.jpg", "shown.png"))
    assert_alike(turned, upright, model.class_names, 1e-4)


def test_the_exif_check_would_see_an_ignored_orientation(unsure_photo, model, tmp_path):
    """The same turned pixels without the tag answer differently, so the tolerance above means something."""
    save(unsure_photo, tmp_path / "upright.png")
    save(unsure_photo.transpose(Image.Transpose.ROTATE_90), tmp_path / "sideways.png")
    sideways, upright = (predict_all(model, tmp_path / name) for name in ("sideways.png", "upright.png"))
    assert probabilities(sideways, model.class_names) != pytest.approx(probabilities(upright, model.class_names), abs=1e-4)


@pytest.mark.slow  # 60 predictions by the transfer model: 10 s on 2 idle cores, over a minute on busy ones
def test_exif_orientation_decides_the_shipped_models_answers(tmp_path):
    """The official photos stored sideways with their EXIF tag, as a phone stores them: the shipped (trained)
    model answers each as it answers the photo shown upright, and the same stored pixels without the tag change
    some of its answers. A random-weight model moves too little to tell the two apart."""
    photos = sorted(UDACITY_SAMPLES.glob("test/*/*.jpg"))
    require(bool(photos), f"the official sample photos are not in {UDACITY_SAMPLES}")
    require(is_shipped("transfer"), "assets/models/transfer.pt is not built yet (python train_transfer.py)")
    model = model_files.load_model(SHIPPED_MODELS, "transfer")
    turned, shown = tmp_path / "turned.jpg", tmp_path / "shown.png"
    changed_without_tag = []
    for photo in photos:
        # One size for all: TorchScript re-tunes itself for every new input shape, which would cost seconds each.
        exif_rotated(Image.open(photo).convert("RGB").resize((320, 240)), turned, orientation=6)
        save(as_shown(turned), shown)
        with Image.open(turned) as stored:
            untagged = Image.fromarray(np.asarray(stored.convert("RGB")))  # the stored pixels, no EXIF
        upright, answer, without_tag = (inference.predict(model, source, k=1).best["label"] for source in (shown, turned, untagged))
        assert answer == upright, photo.name
        if without_tag != upright:
            changed_without_tag.append(photo.name)
    assert changed_without_tag, "no photo's answer depends on its orientation: this check cannot fail"


def test_decompression_bomb_is_refused_quickly_without_decoding(corpus, model):
    started = time.perf_counter()
    with memory_growth() as growth, pytest.raises(images.ImageError, match="too large"):
        inference.predict(model, corpus["bomb.png"])
    assert time.perf_counter() - started < BOMB_SECONDS
    assert growth["bytes"] < BOMB_MEMORY_BYTES


# --- through the running app ----------------------------------------------------------------------------


def ask_app(app, path: Path, model: model_files.LoadedModel) -> dict:
    return app.predict(path, model.name, len(model.class_names))


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_app_answers_or_refuses_and_keeps_serving(case, corpus, model, shipped_app):
    if case.refused:
        with pytest.raises(AppError, match=case.refused) as error:
            ask_app(shipped_app, corpus[case.file], model)
        assert_user_readable(error.value.message)
    else:
        answer = ask_app(shipped_app, corpus[case.file], model)
        probabilities(answer, model.class_names)
        if case.like:
            reference, tolerance = case.like
            assert_alike(answer, ask_app(shipped_app, corpus[reference], model), model.class_names, tolerance)
    # No worker was left hung or broken: the next good photo is answered promptly.
    follow_up = shipped_app.predict(corpus["upright.png"], "scratch", 1, timeout=FOLLOW_UP_TIMEOUT_S)
    assert len(follow_up["top"]) == 1


def test_app_refuses_a_bomb_quickly_without_decoding(corpus, model, shipped_app):
    started = time.perf_counter()
    with memory_growth(shipped_app.process.pid) as growth, pytest.raises(AppError, match="too large"):
        ask_app(shipped_app, corpus["bomb.png"], model)
    assert time.perf_counter() - started < BOMB_SECONDS
    assert growth["bytes"] < BOMB_MEMORY_BYTES


def test_upload_over_the_size_limit_is_refused(shipped_app, tmp_path, corpus):
    oversized = tmp_path / "huge.jpg"
    with oversized.open("wb") as handle:
        handle.truncate(images.MAX_FILE_BYTES + 1)  # sparse: costs no disk
    with oversized.open("rb") as handle:
        response = httpx.post(f"{shipped_app.url}gradio_api/upload", files={"files": (oversized.name, handle, "image/jpeg")}, timeout=60)
    assert response.status_code == 413, response.text
    assert_user_readable(response.text)
    assert shipped_app.predict(corpus["upright.png"], "scratch", 1, timeout=FOLLOW_UP_TIMEOUT_S)["top"]
