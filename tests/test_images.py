"""The decoder's pixels against hand-made expectations: the first frame of an animation, 16-bit grey scaled to
8 bits, and see-through pixels laid over white. test_bad_inputs.py checks these files reach the model; here each
decoded value is the one a person would predict from the file's own pixels."""

from __future__ import annotations

import io
import struct
import warnings
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
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


# --- every message a user can get, word for word (the app shows str(error) as it is) ---


def test_what_each_unusable_file_is_told(tmp_path):
    with pytest.raises(images.ImageError) as caught:
        images.load_rgb(b"")
    assert str(caught.value) == "The file is empty (0 bytes)."
    with pytest.raises(images.ImageError) as caught:
        images.load_rgb(tmp_path / "nope.png")
    assert str(caught.value) == "No such file: nope.png."
    (tmp_path / "empty.png").write_bytes(b"")
    with pytest.raises(images.ImageError) as caught:
        images.load_rgb(tmp_path / "empty.png")
    assert str(caught.value) == "empty.png is empty (0 bytes)."
    # one byte is not empty: it is a file we cannot read
    (tmp_path / "one.png").write_bytes(b"x")
    with pytest.raises(images.ImageError) as caught:
        images.load_rgb(tmp_path / "one.png")
    assert str(caught.value) == "one.png is not an image we can read (try a JPEG, PNG, WebP, GIF, BMP or TIFF)."
    with pytest.raises(images.ImageError) as caught:
        images.load_rgb(b"not a picture")
    assert str(caught.value) == "the upload is not an image we can read (try a JPEG, PNG, WebP, GIF, BMP or TIFF)."


def test_the_file_size_limit_and_its_message(tmp_path, monkeypatch):
    monkeypatch.setattr(images, "MAX_FILE_BYTES", 2 * 2**20)  # 2 MB, so the test writes 3 MB, not 25
    (tmp_path / "big.png").write_bytes(b"\0" * (3 * 2**20))
    with pytest.raises(images.ImageError) as caught:
        images.load_rgb(tmp_path / "big.png")
    assert str(caught.value) == "big.png is 3 MB; the limit is 2 MB."
    # exactly at the limit is allowed: it then fails as the non-image it is
    (tmp_path / "limit.png").write_bytes(b"\0" * (2 * 2**20))
    with pytest.raises(images.ImageError, match="not an image we can read"):
        images.load_rgb(tmp_path / "limit.png")


def test_a_decompression_bomb_is_refused_by_name():
    # 100 MP: over Pillow's warning (~89 MP) but under its own error (~179 MP), so it is our warning filter that refuses it
    with pytest.raises(images.ImageError) as caught:
        images.load_rgb(png_claiming(10000, 10000))
    assert str(caught.value) == "the upload is too large to be a photo (over 64 megapixels)."


def test_a_file_the_system_cannot_read_says_why(tmp_path, monkeypatch):
    (tmp_path / "locked.png").write_bytes(b"\x89PNG")

    def refuse(stream):
        raise OSError("device not ready")

    monkeypatch.setattr(images.Image, "open", refuse)
    with pytest.raises(images.ImageError) as caught:
        images.load_rgb(tmp_path / "locked.png")
    assert str(caught.value) == "locked.png could not be read: device not ready."


def test_the_megapixel_message_rounds_the_megapixels():
    # 10000 x 6550 = 65.5 MP, printed to the nearest whole megapixel (Python rounds the half to even: 66)
    with pytest.raises(images.ImageError, match=r"10000x6550 \(66 megapixels\); the limit is 64 megapixels\.$"):
        images.load_rgb(png_claiming(10000, 6550))


def test_an_image_with_no_pixels_is_refused_and_one_pixel_wide_is_not():
    for size in [(0, 5), (5, 0), (0, 0)]:
        with pytest.raises(images.ImageError) as caught:
            images.load_rgb(Image.new("RGB", size))
        assert str(caught.value) == "The image has no pixels."
    for size in [(1, 5), (5, 1), (1, 1)]:
        assert images.load_rgb(Image.new("RGB", size, RED)).size == size


def test_a_two_frame_animation_left_on_its_second_frame_gives_its_first(tmp_path):
    frames = [Image.new("RGB", (8, 6), colour) for colour in (RED, GREEN)]
    frames[0].save(tmp_path / "two.gif", save_all=True, append_images=frames[1:], duration=100, loop=0)
    with Image.open(tmp_path / "two.gif") as animation:
        animation.seek(1)
        assert (np.asarray(images.load_rgb(animation)) == RED).all()


def test_a_jpeg_without_a_short_side_is_decoded_at_full_size(tmp_path):
    Image.new("RGB", (1200, 900), RED).save(tmp_path / "photo.jpg", quality=90)
    assert images.load_rgb(tmp_path / "photo.jpg").size == (1200, 900)
    # and a short side asked of a PNG changes nothing: only JPEG decoders can skip detail
    Image.new("RGB", (1200, 900), RED).save(tmp_path / "photo.png")
    assert images.load_rgb(tmp_path / "photo.png", min_short_side=256).size == (1200, 900)


# --- every deep and see-through mode the decoder names, each against a hand-computed pixel ---


@pytest.mark.parametrize("mode", ["I;16B", "I;16L"])
def test_16_bit_grey_in_either_byte_order_is_scaled(mode):
    order = ">" if mode.endswith("B") else "<"
    values = [0, 257 * 128, 33025, 65535]  # 33025 * 255 / 65535 = 128.502: rounds up to 129
    deep = Image.frombytes(mode, (4, 1), np.array(values, dtype=order + "u2").tobytes())
    assert np.asarray(images.load_rgb(deep))[0, :, 0].tolist() == [0, 128, 129, 255]


@pytest.mark.parametrize("mode", ["I;16", "I;16B", "I;16L"])
def test_a_16_bit_image_is_16_bit_even_when_all_its_values_are_small(mode):
    # unlike a 32-bit "I" image, a 16-bit one is never taken for 8-bit values: 255 of 65535 is nearly black
    order = ">" if mode.endswith("B") else "<"
    deep = Image.frombytes(mode, (3, 1), np.array([0, 128, 255], dtype=order + "u2").tobytes())
    # 128 * 255 / 65535 = 0.498 -> 0 and 255 * 255 / 65535 = 0.992 -> 1; read as 8-bit they would be 128 and 255
    assert np.asarray(images.load_rgb(deep))[0, :, 0].tolist() == [0, 0, 1]


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ([0, 100, 255], [0, 100, 255]),  # all within 8 bits: taken as 8-bit values, as they are
        ([0, 256], [0, 1]),  # one value over 255: the whole image is 16-bit (256 * 255 / 65535 = 0.996 -> 1)
        ([0, 255, 65535], [0, 1, 255]),
        ([0, 1000, 70000], [0, 4, 255]),  # over 16 bits: clipped to white, not wrapped around
        ([-100, 128, 255], [0, 128, 255]),  # below zero: clipped to black
    ],
)
def test_32_bit_integer_grey_is_read_as_8_or_16_bit(values, expected):
    deep = Image.frombytes("I", (len(values), 1), np.array(values, dtype="<i4").tobytes())
    assert deep.mode == "I"
    assert np.asarray(images.load_rgb(deep))[0, :, 0].tolist() == expected


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ([0.0, 0.5, 2.0], [0, 64, 255]),  # scaled by its own maximum: 0.5 / 2 * 255 = 63.75 -> 64
        ([0.0, 0.25, 0.5], [0, 128, 255]),  # a maximum below 1 still becomes white
        ([-1.0, 0.25, 0.5], [0, 128, 255]),  # negative values are black
        ([0.0, 0.0], [0, 0]),  # all black: no division by zero
    ],
)
def test_floating_point_grey_is_scaled_by_its_maximum(values, expected):
    deep = Image.frombytes("F", (len(values), 1), np.array(values, dtype="<f4").tobytes())
    assert deep.mode == "F"
    assert np.asarray(images.load_rgb(deep))[0, :, 0].tolist() == expected


def test_a_palette_image_without_transparency_keeps_its_colours():
    image = Image.new("P", (2, 1))
    image.putpalette([30, 60, 90, 200, 100, 0])
    image.putpixel((1, 0), 1)
    assert np.asarray(images.load_rgb(image)).tolist() == [[[30, 60, 90], [200, 100, 0]]]


def with_alpha(mode: str, colour, alpha: int) -> Image.Image:
    """A 2x1 image: an opaque pixel, then the same colour at `alpha` (0: clear)."""
    rgba = Image.new("RGBA", (2, 1), (*colour, 255))
    rgba.putpixel((1, 0), (*colour, alpha))
    if mode == "PA":
        image = Image.new("PA", (2, 1))
        image.putpalette([*colour, 0, 0, 0])
        image.putdata([(0, 255), (0, alpha)])
        return image
    if mode == "La":
        return rgba.convert("LA").convert("La")
    return rgba.convert(mode)


@pytest.mark.parametrize(
    "mode",
    [
        "PA",
        "RGBa",
        "La",  # premultiplied: Pillow (12.3) converts it to LA only, so _to_rgb goes through LA
    ],
)
def test_other_see_through_modes_are_laid_over_white(mode):
    image = with_alpha(mode, (90, 90, 90), 0)
    assert image.mode == mode
    assert np.asarray(images.load_rgb(image)).tolist() == [[[90, 90, 90], [255, 255, 255]]]


# --- the Predictor's input tensor ---


def test_load_tensor_is_channels_first_uint8_of_the_decoded_pixels(tmp_path):
    pixels = np.arange(2 * 3 * 3, dtype=np.uint8).reshape(2, 3, 3) * 10  # height 2, width 3, every value distinct
    Image.fromarray(pixels, "RGB").save(tmp_path / "tiny.png")
    tensor = images.load_tensor(tmp_path / "tiny.png")
    assert tensor.dtype == torch.uint8 and tuple(tensor.shape) == (3, 2, 3) and tensor.is_contiguous()
    assert tensor.tolist() == pixels.transpose(2, 0, 1).tolist()
    # it owns its pixels: writing to the tensor leaves the image alone
    image = Image.fromarray(pixels, "RGB")
    tensor = images.to_uint8_tensor(image)
    tensor.zero_()
    assert np.asarray(image).tolist() == pixels.tolist()


def test_load_tensor_passes_the_short_side_to_the_decoder(tmp_path):
    Image.new("RGB", (1200, 900), RED).save(tmp_path / "photo.jpg", quality=90)
    assert tuple(images.load_tensor(tmp_path / "photo.jpg", 256).shape) == (3, 450, 600)
    assert tuple(images.load_tensor(tmp_path / "photo.jpg").shape) == (3, 900, 1200)
    assert tuple(images.load_tensor(Image.new("RGB", (4, 2), RED)).shape) == (3, 2, 4)


def test_to_uint8_tensor_gives_a_writable_tensor_without_warnings():
    # a read-only NumPy view would make torch warn "The given NumPy array is not writable" for every photo
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        tensor = images.to_uint8_tensor(Image.new("RGB", (3, 2), RED))
    tensor[0, 0, 0] = 7
    assert tensor[0, 0, 0] == 7


def tiff_with_a_tag_pointing_past_the_end() -> bytes:
    """A 4x4 grey TIFF whose last header tag claims a million values the file does not hold: Pillow warns
    ("Truncated File Read") while reading the header, and the pixels are fine."""
    entries = [(256, 3, 1, 4), (257, 3, 1, 4), (258, 3, 1, 8), (259, 3, 1, 1), (262, 3, 1, 1), (273, 4, 1, 8 + 2 + 12 * 9 + 4),
               (277, 3, 1, 1), (279, 4, 1, 16), (40000, 3, 1_000_000, 0)]
    header = b"II*\x00" + struct.pack("<I", 8) + struct.pack("<H", len(entries))
    header += b"".join(struct.pack("<HHII", *entry) for entry in entries) + struct.pack("<I", 0)
    return header + bytes(range(0, 160, 10))


def test_a_header_pillow_warns_about_still_opens():
    # Only the decompression-bomb warning is an error while opening; any other warning (here a tag that points
    # past the end of the file) must not stop a readable photo.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Pillow's own warning, expected
        image = images.load_rgb(tiff_with_a_tag_pointing_past_the_end())
    assert image.size == (4, 4) and np.asarray(image)[0, :, 0].tolist() == [0, 10, 20, 30]
