"""Any image file a user or a dataset hands us -> an upright 8-bit RGB image, or a clear ImageError.

Training, evaluation and the app all decode through here, so a photo is seen the same way everywhere.
"""

from __future__ import annotations

import io
import os
import warnings
from pathlib import Path
from typing import Union

import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError

# A 64-megapixel phone photo is fine; a 20000x20000 "decompression bomb" would need 1.2 GB to decode.
MAX_PIXELS = 64_000_000
# The file size cap the app gives Gradio; a real photo is far below it.
MAX_FILE_BYTES = 25 * 1024 * 1024

ImageSource = Union[str, os.PathLike, bytes, Image.Image]


class ImageError(ValueError):
    """A file that cannot be used as a photo; str(error) is meant for the user."""


def _open(source: ImageSource) -> Image.Image:
    if isinstance(source, Image.Image):
        return source
    if isinstance(source, bytes):
        if not source:
            raise ImageError("The file is empty (0 bytes).")
        stream = io.BytesIO(source)
        name = "the upload"
    else:
        path = Path(source)
        name = path.name
        if not path.is_file():
            raise ImageError(f"No such file: {name}.")
        size = path.stat().st_size
        if size == 0:
            raise ImageError(f"{name} is empty (0 bytes).")
        if size > MAX_FILE_BYTES:
            raise ImageError(f"{name} is {size / 2**20:.0f} MB; the limit is {MAX_FILE_BYTES // 2**20} MB.")
        stream = path
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            return Image.open(stream)
    except (UnidentifiedImageError, Image.DecompressionBombWarning, Image.DecompressionBombError) as error:
        if isinstance(error, UnidentifiedImageError):
            raise ImageError(f"{name} is not an image we can read (try a JPEG, PNG, WebP, GIF, BMP or TIFF).") from None
        raise ImageError(f"{name} is too large to be a photo (over {MAX_PIXELS // 1_000_000} megapixels).") from None
    except OSError as error:
        raise ImageError(f"{name} could not be read: {error}.") from None


def _to_rgb(image: Image.Image) -> Image.Image:
    """Flatten every PIL mode to RGB: alpha over white, 16-bit scaled (not clipped) to 8-bit."""
    if image.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        values = np.asarray(image, dtype=np.float32)
        top = 65535.0 if image.mode.startswith("I;16") or values.max() > 255 else 255.0
        if image.mode == "F":
            top = max(float(values.max()), 1e-6)
        image = Image.fromarray(np.clip(values / top * 255.0 + 0.5, 0, 255).astype(np.uint8), "L")
    if image.mode == "P":
        image = image.convert("RGBA" if "transparency" in image.info else "RGB")
    if image.mode == "La":  # premultiplied alpha, which Pillow converts to nothing but LA
        image = image.convert("LA")
    if image.mode in ("RGBA", "LA", "PA", "RGBa"):
        image = image.convert("RGBA")
        background = Image.new("RGBA", image.size, (255, 255, 255, 255))
        image = Image.alpha_composite(background, image)
    return image.convert("RGB") if image.mode != "RGB" else image


def load_rgb(source: ImageSource, min_short_side: int | None = None) -> Image.Image:
    """Decode `source` upright (EXIF orientation applied) as RGB.

    `min_short_side` lets JPEG decoding skip detail we would throw away: the decoder scales by a power of
    two as long as the short side stays at least that large.
    """
    image = _open(source)
    width, height = image.size
    if width * height > MAX_PIXELS:
        raise ImageError(
            f"The image is {width}x{height} ({width * height / 1e6:.0f} megapixels); "
            f"the limit is {MAX_PIXELS // 1_000_000} megapixels."
        )
    if width < 1 or height < 1:
        raise ImageError("The image has no pixels.")
    try:
        if getattr(image, "n_frames", 1) > 1:
            image.seek(0)  # animated GIF/WebP: the first frame stands for the file
        if min_short_side and image.format == "JPEG":
            scale = max(1, min(width, height) // min_short_side)
            image.draft("RGB", (width // scale, height // scale))
        image.load()
        image = ImageOps.exif_transpose(image)
        return _to_rgb(image)
    except ImageError:
        raise
    except (OSError, ValueError, SyntaxError) as error:
        raise ImageError(f"The image is truncated or corrupt ({error}).") from None


def to_uint8_tensor(image: Image.Image) -> torch.Tensor:
    """RGB PIL image -> uint8 tensor (3, H, W), the Predictor's input."""
    return torch.from_numpy(np.array(image, dtype=np.uint8, copy=True)).permute(2, 0, 1).contiguous()


def load_tensor(source: ImageSource, min_short_side: int | None = None) -> torch.Tensor:
    return to_uint8_tensor(load_rgb(source, min_short_side))
