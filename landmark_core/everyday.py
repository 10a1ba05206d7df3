"""Everyday photos that are no landmark at all (pets, food, people, documents, screenshots, plain textures):
what visitors also upload, and what every model must answer "not one of my landmarks".

Two sources, neither committed as files: scikit-image's bundled sample photos when scikit-image is installed
(a test dependency: a cat, coffee, an astronaut, a rocket, a camera man, text pages, brick, grass...), and
pictures drawn here (a plain wall, a gradient, noise, a document, a screenshot, a chart), seeded.
Recipes are chosen on other pictures, `everyday_validation_pictures`, so these stay a test.
"""

from __future__ import annotations

import importlib
import textwrap
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

# scikit-image sample images that ship inside its wheel (no download), as (function, what it shows).
SKIMAGE_SAMPLES = (
    ("chelsea", "a cat"),
    ("coffee", "a cup of coffee"),
    ("astronaut", "a person"),
    ("camera", "a man with a camera"),
    ("rocket", "a rocket on a launch pad"),
    ("horse", "a horse silhouette"),
    ("page", "a scanned page"),
    ("text", "text on a sign"),
    ("brick", "a brick wall texture"),
    ("grass", "grass texture"),
    ("gravel", "gravel texture"),
    ("moon", "the moon's surface"),
    ("coins", "coins"),
    ("clock", "a clock"),
    ("hubble_deep_field", "a deep-sky photo"),
    ("immunohistochemistry", "a microscope slide"),
    ("colorwheel", "a colour wheel"),
    ("logo", "a logo"),
)

_LOREM = (
    "Meeting notes. The quarterly report is due on Friday; please send the figures for the second quarter "
    "before Wednesday so that the summary can be reviewed. Action items: update the budget sheet, book the "
    "room, invite the team, confirm the agenda with the client and share the slides afterwards."
)


def _faces(data) -> np.ndarray:
    """20 of scikit-image's 25x25 face crops as one 4 x 5 mosaic."""
    faces = data.lfw_subset()[:20]
    return np.concatenate([np.concatenate(list(faces[row * 5 : row * 5 + 5]), 1) for row in range(4)])


# Samples that are not one fixed picture as they come.
_SKIMAGE_PIXELS = {
    "stereo_motorcycle": lambda data: data.stereo_motorcycle()[0],
    "lfw_subset": _faces,
    "binary_blobs": lambda data: data.binary_blobs(rng=0),  # random unless seeded
}


def _rgb(pixels: np.ndarray) -> Image.Image:
    if pixels.ndim == 2:
        pixels = np.stack([pixels] * 3, axis=-1)
    if pixels.dtype != np.uint8:
        pixels = np.clip(pixels * 255 if pixels.max() <= 1.0 else pixels, 0, 255).astype(np.uint8)
    return Image.fromarray(pixels[..., :3], "RGB")


def skimage_photos(samples: tuple[tuple[str, str], ...] = SKIMAGE_SAMPLES) -> list[tuple[str, Image.Image]]:
    """scikit-image's bundled `samples` as RGB photos; empty when scikit-image is not installed."""
    try:
        data = importlib.import_module("skimage.data")
    except ImportError:
        return []
    photos = []
    for name, what in samples:
        try:
            pixels = _SKIMAGE_PIXELS[name](data) if name in _SKIMAGE_PIXELS else getattr(data, name)()
            photos.append((f"skimage {name} ({what})", _rgb(np.asarray(pixels))))
        except Exception:  # a sample that needs a download on this version: skip it
            continue
    return photos


def drawn_pictures(seed: int = 0, size: tuple[int, int] = (400, 300)) -> list[tuple[str, Image.Image]]:
    """Pictures drawn here: plain colours, a gradient, noise, a document, a screenshot, a bar chart."""
    rng = np.random.default_rng(seed)
    width, height = size
    font = ImageFont.load_default(size=16)
    pictures = [(f"plain {name} wall", Image.new("RGB", size, colour)) for name, colour in (("white", (245, 245, 245)), ("beige", (222, 205, 170)), ("dark", (30, 30, 35)))]
    y, x = np.mgrid[0:height, 0:width] / max(width, height)
    pictures.append(("gradient", _rgb(np.stack([x, y, 1 - x], axis=-1))))
    pictures.append(("colour noise", _rgb(rng.random((height, width, 3)))))

    document = Image.new("RGB", size, (252, 252, 250))
    draw = ImageDraw.Draw(document)
    for row, line in enumerate(textwrap.wrap(_LOREM, 42)):
        draw.text((20, 20 + 22 * row), line, fill=(20, 20, 20), font=font)
    pictures.append(("text document", document))

    screenshot = Image.new("RGB", size, (240, 242, 245))
    draw = ImageDraw.Draw(screenshot)
    draw.rectangle([0, 0, width, 36], fill=(45, 90, 200))
    draw.text((12, 9), "Inbox (3) - Mail", fill="white", font=font)
    for row in range(6):
        top = 50 + 40 * row
        draw.rectangle([10, top, width - 10, top + 32], fill="white", outline=(210, 210, 215))
        draw.text((20, top + 7), f"Message {row + 1}: project update", fill=(40, 40, 40), font=font)
    pictures.append(("screenshot", screenshot))

    chart = Image.new("RGB", size, "white")
    draw = ImageDraw.Draw(chart)
    for bar, value in enumerate(rng.uniform(0.2, 0.9, 6)):
        left = 30 + bar * 60
        draw.rectangle([left, height - 20 - value * (height - 40), left + 40, height - 20], fill=(70, 130, 180))
    draw.line([20, height - 20, width - 10, height - 20], fill="black", width=2)
    pictures.append(("bar chart", chart))
    return pictures


# Pictures kept apart from the ones above to choose recipes on (benchmarks/validation.py): bundled samples of
# scikit-image and matplotlib that no card's everyday figures use.
SKIMAGE_VALIDATION_SAMPLES = (
    ("stereo_motorcycle", "a motorcycle"),
    ("retina", "a retina"),
    ("cell", "cells under a microscope"),
    ("checkerboard", "a checkerboard"),
    ("binary_blobs", "blobs"),
    ("shepp_logan_phantom", "a phantom scan"),
    ("microaneurysms", "a microscope crop"),
    ("lfw_subset", "faces"),
)
MATPLOTLIB_VALIDATION_SAMPLES = (
    ("grace_hopper.jpg", "Grace Hopper"),
    ("Minduka_Present_Blue_Pack.png", "a present"),
    ("logo2.png", "a logo"),
)


def everyday_validation_pictures() -> list[tuple[str, Image.Image]]:
    """(description, RGB image) of the everyday *validation* pictures; only matplotlib's without scikit-image."""
    sample_data = Path(importlib.import_module("matplotlib").get_data_path()) / "sample_data"
    return skimage_photos(SKIMAGE_VALIDATION_SAMPLES) + [
        (f"matplotlib {file} ({what})", Image.open(sample_data / file).convert("RGB")) for file, what in MATPLOTLIB_VALIDATION_SAMPLES
    ]


def everyday_photos(seed: int = 0) -> list[tuple[str, Image.Image]]:
    """(description, RGB image) for every everyday picture available here."""
    return skimage_photos() + drawn_pictures(seed)
