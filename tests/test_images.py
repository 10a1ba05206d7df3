"""The decoder's pixels against hand-made expectations: the first frame of an animation, 16-bit grey scaled to
8 bits, and see-through pixels laid over white. test_bad_inputs.py checks these files reach the model; here each
decoded value is the one a person would predict from the file's own pixels."""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from landmark_core import images

RED, GREEN, BLUE, WHITE = (255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 255)


def test_an_animated_gif_is_its_first_frame(tmp_path):
    frames = [Image.new("RGB", (8, 6), colour) for colour in (RED, GREEN, BLUE)]
    frames[0].save(tmp_path / "animated.gif", save_all=True, append_images=frames[1:], duration=100, loop=0)
    with Image.open(tmp_path / "animated.gif") as stored:
        assert stored.n_frames == 3  # the file really is an animation, not one frame
    decoded = np.asarray(images.load_rgb(tmp_path / "animated.gif"))
    assert decoded.shape == (6, 8, 3) and (decoded == RED).all()


def test_an_animation_already_moved_to_a_later_frame_still_gives_its_first(tmp_path):
    frames = [Image.new("RGB", (8, 6), colour) for colour in (RED, GREEN, BLUE)]
    frames[0].save(tmp_path / "animated.gif", save_all=True, append_images=frames[1:], duration=100, loop=0)
    with Image.open(tmp_path / "animated.gif") as animation:
        animation.seek(2)  # a caller (or a viewer) left it on the last frame
        assert (np.asarray(images.load_rgb(animation)) == RED).all()


def png_claiming(width: int, height: int) -> bytes:
    """A 1-pixel PNG whose header claims width x height: the limit must be read before any decoding."""
    buffer = io.BytesIO()
    Image.new("RGB", (1, 1)).save(buffer, "PNG")
    data = bytearray(buffer.getvalue())
    struct.pack_into(">II", data, 16, width, height)  # IHDR width, height
    struct.pack_into(">I", data, 29, zlib.crc32(data[12:29]))  # IHDR checksum
    return bytes(data)


def test_the_megapixel_limit_is_width_times_height():
    # 72 MP: over our 64 MP limit, under Pillow's own decompression-bomb warning (~89 MP), so only our check refuses it.
    with pytest.raises(images.ImageError, match=r"9000x8000 \(72 megapixels\); the limit is 64 megapixels"):
        images.load_rgb(png_claiming(9000, 8000))
    # Exactly 64 MP is allowed: this file then fails as the 1-pixel file it really is, not on the limit.
    with pytest.raises(images.ImageError, match="truncated or corrupt"):
        images.load_rgb(png_claiming(8000, 8000))


@pytest.mark.parametrize(("size", "expected_short_side"), [((400, 300), 300), ((1200, 900), 450)])
def test_jpeg_draft_decoding_never_goes_below_the_short_side_asked_for(tmp_path, size, expected_short_side):
    """Pillow's draft mode decodes a JPEG at 1/2, 1/4 or 1/8 scale: only as far down as the short side allows."""
    Image.new("RGB", size, RED).save(tmp_path / "photo.jpg", quality=90)
    assert min(images.load_rgb(tmp_path / "photo.jpg", min_short_side=256).size) == expected_short_side


# 8-bit grey k is 16-bit k * 257 (0 -> 0, 255 -> 65535), so scaling must give k back exactly; clipping would
# turn everything above 255 white.
GREYS = [0, 1, 64, 128, 200, 254, 255]


def test_16_bit_grey_is_scaled_to_8_bits_not_clipped(tmp_path):
    deep = Image.fromarray(np.array([GREYS], dtype=np.uint16) * 257)
    deep.save(tmp_path / "grey16.png")
    with Image.open(tmp_path / "grey16.png") as stored:
        assert stored.mode.startswith("I")  # PIL reads it back as 16-bit, the case under test
    decoded = np.asarray(images.load_rgb(tmp_path / "grey16.png"))
    assert decoded.tolist() == [[[grey] * 3 for grey in GREYS]]


def rgba(path: Path) -> None:
    pixels = [(200, 10, 10, 255), (0, 0, 0, 0), (0, 0, 0, 128), (100, 50, 0, 0)]
    Image.frombytes("RGBA", (4, 1), bytes(np.array(pixels, dtype=np.uint8))).save(path)


def grey_with_alpha(path: Path) -> None:
    Image.frombytes("LA", (3, 1), bytes([50, 255, 50, 0, 0, 128])).save(path)


def palette_with_transparency(path: Path) -> None:
    image = Image.new("P", (2, 1))
    image.putpalette([0, 0, 0, 30, 60, 90])  # entry 0 black, entry 1 a blue-grey
    image.putpixel((0, 0), 0)
    image.putpixel((1, 0), 1)
    image.save(path, transparency=0)  # entry 0 is see-through


# Over white, a pixel of alpha a shows a * colour + (1 - a) * 255: opaque keeps its colour, clear is white, and
# half-clear black (a = 128/255) is 127.
@pytest.mark.parametrize(
    "make, expected",
    [
        (rgba, [(200, 10, 10), WHITE, (127, 127, 127), WHITE]),
        (grey_with_alpha, [(50, 50, 50), WHITE, (127, 127, 127)]),
        (palette_with_transparency, [WHITE, (30, 60, 90)]),
    ],
    ids=["rgba", "la", "palette"],
)
def test_see_through_pixels_are_laid_over_white(tmp_path, make, expected):
    make(tmp_path / "alpha.png")
    decoded = np.asarray(images.load_rgb(tmp_path / "alpha.png"), dtype=int)
    assert np.abs(decoded[0] - np.array(expected)).max() <= 1, decoded[0].tolist()
