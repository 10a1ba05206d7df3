"""A loaded model + photos -> plain answers: top-k landmarks with places, the open-set decision, and a heatmap.

Used by the app, by tagging (landmark_core.tagging) and by tests; landmark_core.model_files loads the models.
Everything returned is plain data (dicts, lists, PIL images): no figures and no Gradio objects, so the same answers
can be shown, served as JSON or written to CSV.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass

import numpy as np
import torch
from matplotlib import colormaps
from PIL import Image, ImageDraw
from torch.nn import functional as F

from landmark_core import images
from landmark_core.model_files import LoadedModel
from landmark_core.places import place_for

# Heatmaps are drawn on a copy this large at most: plenty for a screen, cheap to blend.
HEATMAP_MAX_SIDE = 640


def _place_json(label: str) -> dict | None:
    place = place_for(label)
    if place is None:
        return None
    return {
        "name": place.name,
        "region": place.region,
        "country": place.country,
        "latitude": place.latitude,
        "longitude": place.longitude,
        "map_url": place.map_url,
    }


@dataclass(frozen=True)
class Prediction:
    """What the model said about one photo; `to_json()` is exactly what the API returns."""

    model: str
    top: list[dict]  # best first: {"label", "probability", "index", "place": {...} | None}
    is_unknown: bool  # known_score < unknown_threshold: "not one of my landmarks"
    known_score: float  # in [0, 1]: how much the photo looks like any of the model's landmarks at all
    unknown_threshold: float
    milliseconds: float  # decode + preprocess + forward, as the model card's latency

    @property
    def best(self) -> dict:
        return self.top[0]

    def to_json(self) -> dict:
        return asdict(self)


def clamp_k(model: LoadedModel, k: float | int | None) -> int:
    """Any k a slider or a client sends -> 1..number of classes."""
    try:
        value = int(round(float(k)))
    except (TypeError, ValueError):
        value = 5
    return max(1, min(value, len(model.class_names)))


def predictions(model: LoadedModel, probabilities: torch.Tensor, known_scores: torch.Tensor, k: int, milliseconds: float) -> list[Prediction]:
    """`predictor.classify`'s outputs for a batch -> one Prediction each, with the open-set rule applied.

    `milliseconds` is each photo's share of the time; the page and batch tagging both decide here.
    """
    values, indices = probabilities.topk(clamp_k(model, k), dim=1)
    names = model.class_names
    # Decided on the tensor, before any rounding, exactly as `known_score(x) < unknown_threshold` with torch alone.
    unknown = (known_scores < model.unknown_threshold).tolist()
    answers = []
    for row_values, row_indices, score, is_unknown in zip(values.tolist(), indices.tolist(), known_scores.tolist(), unknown):
        known_score = round(score, 6)
        top = [
            {"label": names[index], "probability": round(value, 6), "index": index, "place": _place_json(names[index])}
            for value, index in zip(row_values, row_indices)
        ]
        answers.append(
            Prediction(
                model=model.name,
                top=top,
                is_unknown=is_unknown,
                known_score=known_score,
                unknown_threshold=model.unknown_threshold,
                milliseconds=round(milliseconds, 2),
            )
        )
    return answers


def predict(model: LoadedModel, source: images.ImageSource, k: int = 5) -> Prediction:
    """Decode `source` (bad files raise images.ImageError) and return the top-k landmarks."""
    started = time.perf_counter()
    tensor = images.load_tensor(source, model.predictor.resize_size)
    with torch.inference_mode():
        probabilities, known_scores = model.predictor.classify(tensor[None])
    return predictions(model, probabilities, known_scores, k, (time.perf_counter() - started) * 1000)[0]


def warm_up(model: LoadedModel) -> None:
    """Run the model twice on a blank photo: TorchScript optimises a module on its first calls, so a user's
    first photo would otherwise wait (and report) several times the usual latency."""
    blank = torch.zeros(1, 3, 360, 480, dtype=torch.uint8)
    with torch.inference_mode():
        for _ in range(2):
            model.predictor.classify(blank)
            model.predictor.activation_map(blank, 0)


def display_image(source: images.ImageSource, max_side: int = HEATMAP_MAX_SIDE) -> Image.Image:
    """The upright photo at screen size, for drawing a heatmap on."""
    image = images.load_rgb(source, min_short_side=max_side // 2)
    image.thumbnail((max_side, max_side), Image.Resampling.BILINEAR)
    return image


def heatmap_overlay(model: LoadedModel, image: Image.Image, class_index: int, alpha: float = 0.55) -> Image.Image:
    """`image` with the class activation map for `class_index` blended over the centre crop the model saw.

    Outside that crop the photo is dimmed: the model never looked there. Warm colours mark the evidence.
    """
    rgb = image.convert("RGB")
    tensor = images.to_uint8_tensor(rgb)[None]
    height, width = tensor.shape[-2:]
    with torch.inference_mode():
        cam = model.predictor.activation_map(tensor, int(class_index))[0].float()
        top, left, box_height, box_width = [int(v) for v in model.predictor.crop_box(height, width)]
        cam = F.interpolate(cam[None, None], size=(box_height, box_width), mode="bilinear", align_corners=False)[0, 0]
    cam = cam.clamp(0, 1).numpy()
    photo = np.asarray(rgb, dtype=np.float32) / 255.0
    out = photo * 0.35
    colours = colormaps["jet"](cam)[..., :3].astype(np.float32)
    weight = (alpha * (0.35 + 0.65 * cam))[..., None]  # cold areas keep more of the photo
    region = photo[top : top + box_height, left : left + box_width]
    out[top : top + box_height, left : left + box_width] = (1 - weight) * region + weight * colours
    overlay = Image.fromarray((np.clip(out, 0, 1) * 255 + 0.5).astype(np.uint8), "RGB")
    ImageDraw.Draw(overlay).rectangle([left, top, left + box_width - 1, top + box_height - 1], outline=(255, 255, 255), width=2)
    return overlay
