"""A shipped model file + photos -> plain answers: top-k landmarks with places, and a heatmap.

Used by the app, by tagging (landmark_core.tagging) and by tests. Everything returned is plain data (dicts,
lists, PIL images): no figures and no Gradio objects, so the same answers can be shown, served as JSON or written
to CSV.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from matplotlib import colormaps
from PIL import Image, ImageDraw
from torch.nn import functional as F

from landmark_core import images
from landmark_core.places import place_for
from landmark_core.predictor import CONTRACT

# The only model files the app will ever load, and the command that rebuilds each when its card is unreadable.
# A TorchScript file can run arbitrary code when loaded, so no other path is ever accepted.
REBUILD_COMMANDS = {"scratch": "python train_scratch.py", "transfer": "python train_transfer.py"}
MODEL_NAMES = tuple(REBUILD_COMMANDS)
# Where the training scripts write by default (their --out, run from the repository root) and the app reads.
DEFAULT_MODEL_DIR = Path(__file__).resolve().parents[1] / "assets" / "models"
# Heatmaps are drawn on a copy this large at most: plenty for a screen, cheap to blend.
HEATMAP_MAX_SIDE = 640


class ModelFileError(RuntimeError):
    """A model file (or its card) is missing, corrupt or truncated; str(error) names it and the rebuild command."""


@dataclass(frozen=True)
class LoadedModel:
    name: str  # "scratch" or "transfer", or a taught model's "Transfer + <landmark>"
    predictor: torch.jit.ScriptModule
    card: dict
    # <name>_crossvalidation.json (benchmarks/crossvalidation.py): what its recipe did with photos of the kinds it
    # trains on all of, measured by models that never saw them; empty when the model has none
    cross_validation: dict = field(default_factory=dict)
    model_dir: Path = DEFAULT_MODEL_DIR  # where it was loaded from: a rebuild must write there

    @property
    def class_names(self) -> list[str]:
        return list(self.predictor.class_names)

    @property
    def unknown_threshold(self) -> float:
        """Below this known score a photo is "not one of my landmarks": the predictor's own, as torch alone sees it."""
        return float(self.predictor.unknown_threshold)

    @property
    def command(self) -> str:
        """The command line that rebuilds this model (from its card) where it was loaded from."""
        return _card_command(self.card, self.name, self.model_dir)

    @property
    def title(self) -> str:
        """'Transfer (EfficientNet-Lite0)': the kind, and the architecture without its details; a taught model's
        own name ('Transfer + Sydney Opera House')."""
        if "taught" in self.card:
            return str(self.card.get("name") or self.name)
        architecture = str(self.card.get("architecture", "")).split(" (")[0].strip()
        architecture = re.sub(r"^efficientnet_lite(\d)$", r"EfficientNet-Lite\1", architecture)  # the timm id, prettier
        kind = str(self.card.get("kind", self.name)).capitalize()
        return f"{kind} ({architecture})" if architecture else kind


# Flags that say where a run wrote its files, not what it trained. A rebuild must write where the app reads, not
# into the scratch folder of whoever trained the shipped file.
OUTPUT_FLAGS = ("--out", "--run-dir")


def _without_output_flags(command: str) -> str:
    """`command` without --out / --run-dir and their values, nor --resume."""
    try:
        words = iter(shlex.split(command))
    except ValueError:  # unbalanced quotes: show the card's line as it is
        return command
    kept = []
    for word in words:
        if word in OUTPUT_FLAGS:
            next(words, None)
        elif word != "--resume" and not word.startswith(tuple(f"{flag}=" for flag in OUTPUT_FLAGS)):
            kept.append(word)
    return shlex.join(kept)


def _card_command(card: object, name: str, model_dir: str | os.PathLike) -> str:
    """The card's own command line (where it wrote its files left out) when it has one, else the default training
    script; writing to `model_dir` when that is not the scripts' default."""
    command = card.get("command") if isinstance(card, dict) else None
    command = _without_output_flags(command) if isinstance(command, str) and command.strip() else REBUILD_COMMANDS[name]
    if Path(model_dir).resolve() != DEFAULT_MODEL_DIR:
        command += f" --out {shlex.quote(str(model_dir))}"
    return command


def rebuild_command(model_dir: str | os.PathLike, name: str) -> str:
    """The command that rebuilds `name` in `model_dir`, read from its card when the card is readable."""
    try:
        card = json.loads((Path(model_dir) / f"{name}.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        card = None
    return _card_command(card, name, model_dir)


def _load_predictor(path: Path, command: str) -> torch.jit.ScriptModule:
    """The TorchScript predictor in `path`, checked against the contract; anything wrong -> ModelFileError."""
    if not path.is_file():
        raise ModelFileError(f"Model file {path} is missing. Rebuild it with: {command}")
    try:
        predictor = torch.jit.load(str(path), map_location="cpu").eval()
    except Exception as error:  # torch reports a bad archive as RuntimeError, ValueError or worse
        reason = str(error).strip().splitlines()[0][:200] if str(error).strip() else type(error).__name__
        raise ModelFileError(f"Model file {path} is corrupt or truncated ({reason}). Rebuild it with: {command}") from None
    missing = [attribute for attribute in CONTRACT if not hasattr(predictor, attribute)]
    if missing:
        raise ModelFileError(f"{path} is not a Landmark Lens predictor (it lacks {', '.join(missing)}). Rebuild it with: {command}")
    return predictor


def load_model(model_dir: str | os.PathLike, name: str) -> LoadedModel:
    """Load `<model_dir>/<name>.pt` and its card `<name>.json`; anything wrong -> ModelFileError."""
    if name not in REBUILD_COMMANDS:
        raise ValueError(f"Unknown model {name!r}; expected one of {', '.join(MODEL_NAMES)}.")
    path = Path(model_dir) / f"{name}.pt"
    card_path = path.with_suffix(".json")
    command = rebuild_command(model_dir, name)
    predictor = _load_predictor(path, command)
    try:
        card = json.loads(card_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        problem = "is missing" if isinstance(error, FileNotFoundError) else "is unreadable"
        raise ModelFileError(f"Model card {card_path} {problem}. Rebuild it with: {command}") from None
    if not isinstance(card, dict):
        raise ModelFileError(f"Model card {card_path} is not a JSON object. Rebuild it with: {command}")
    if "classes" in card and list(card["classes"]) != list(predictor.class_names):
        raise ModelFileError(f"Model card {card_path} lists other classes than {path.name}. Rebuild both with: {command}")
    return LoadedModel(name, predictor, card, _optional_json(path.with_name(f"{name}_crossvalidation.json")), Path(model_dir))


def _optional_json(path: Path) -> dict:
    """The JSON object in `path`; empty when it is missing or unreadable (it only adds facts to show)."""
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}


def load_model_file(path: str | os.PathLike) -> LoadedModel:
    """Any predictor file a command-line user names (its card beside it is optional: only the title reads it).

    Never for the page: a TorchScript file can run code when loaded, so the app loads only `load_model`'s two.
    """
    path = Path(path)
    predictor = _load_predictor(path, "python train_transfer.py --out <folder>")
    return LoadedModel(path.stem, predictor, _optional_json(path.with_suffix(".json")))


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
