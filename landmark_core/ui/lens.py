"""The page's shared state: the two model slots, the gallery photos, the features teaching retrains on and a
scratch folder for downloads, plus how a request names a photo and a model. Every tab reads it; none changes it
(what is per visitor, their taught models, lives in ui/session.py).
"""

from __future__ import annotations

import atexit
import functools
import logging
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gradio as gr

from landmark_core import inference, model_files
from landmark_core.model_files import LoadedModel, ModelFileError
from landmark_core.samples import Sample
from landmark_core.teaching import TrainingFeatures, features_path, load_training_features
from landmark_core.ui.session import TaughtModels

log = logging.getLogger("landmark_lens")

# Every event that runs a model shares one concurrency group, so the queue's limit (set at launch) bounds all
# model work together rather than each event separately.
MODEL_WORK = {"concurrency_id": "model"}
# The page's own model events: hidden from the API, and handed the uploaded file untouched (see landmark_core.ui).
PAGE_MODEL_WORK = {"api_visibility": "private", "preprocess": False, **MODEL_WORK}


@dataclass(frozen=True)
class ModelSlot:
    """One of the two models: loaded, or the reason it is not (which names the file and the rebuild command)."""

    name: str
    model: LoadedModel | None
    error: str | None

    @property
    def label(self) -> str:
        """The model switcher's label, e.g. 'Transfer (EfficientNet-Lite0) — 99.3% test'."""
        if self.model is None:
            return f"{self.name.capitalize()} — unavailable"
        accuracy = self.model.card.get("test_accuracy")
        return f"{self.model.title} — {accuracy:.1%} test" if isinstance(accuracy, (int, float)) else self.model.title


def load_slots(model_dir: str | Path) -> dict[str, ModelSlot]:
    """Both models, eagerly: each loads in well under a second, and a broken file is reported at start."""
    slots = {}
    for name in model_files.MODEL_NAMES:
        try:
            slots[name] = ModelSlot(name, model_files.load_model(model_dir, name), None)
        except ModelFileError as error:
            log.warning("%s", error)
            slots[name] = ModelSlot(name, None, str(error))
    return slots


def uploaded_path(image: Any) -> str | None:
    """The server-side path of an image input that skipped preprocessing (a FileData dict), if any."""
    if isinstance(image, dict) and isinstance(image.get("path"), str):
        return image["path"]
    return None


class LandmarkLens:
    """The models, the gallery photos, and the files the page may serve."""

    def __init__(self, model_dir: str | Path, samples: list[Sample]):
        self.model_dir = Path(model_dir).resolve()
        self.slots = load_slots(self.model_dir)
        self.samples = samples

    @property
    def default_model(self) -> str:
        """The better model when it loaded (transfer), else whichever did."""
        for name in ("transfer", "scratch"):
            if self.slots[name].model is not None:
                return name
        return "transfer"

    @property
    def known_landmarks(self) -> set[str]:
        """Every landmark some loaded model knows: a gallery photo of any other is "not one of mine"."""
        return {label for slot in self.slots.values() if slot.model is not None for label in slot.model.class_names}

    @functools.cached_property
    def download_dir(self) -> Path:
        """Where batch CSVs and located photos are written before Gradio copies them to its cache; made on first use,
        removed at exit."""
        folder = Path(tempfile.mkdtemp(prefix="landmark-lens-"))
        atexit.register(shutil.rmtree, folder, ignore_errors=True)
        return folder

    def warm_up(self) -> None:
        """Warm every loaded model (see inference.warm_up); meant for a background thread after launch."""
        for slot in self.slots.values():
            if slot.model is not None:
                inference.warm_up(slot.model)

    def banner(self) -> str:
        """What is wrong with the model files, in words, or "" when both loaded."""
        errors = [slot.error for slot in self.slots.values() if slot.error]
        if not errors:
            return ""
        serving = [slot.model.title for slot in self.slots.values() if slot.model is not None]
        status = f"Serving {' and '.join(serving)} only." if serving else "No model can answer until one is rebuilt."
        return "⚠️ **" + status + "**\n\n" + "\n".join(f"- {error}" for error in errors)

    def plot_files(self, name: str) -> list[Path]:
        """The training curves and confusion matrix drawn beside a model file, when present."""
        return [p for p in (self.model_dir / f"{name}_curves.png", self.model_dir / f"{name}_confusion.png") if p.is_file()]

    def allowed_paths(self) -> list[str]:
        """Exactly the files the page shows from disk: the sample photos and the models' plots (never a .pt)."""
        files = [sample.path for sample in self.samples] + [p for name in self.slots for p in self.plot_files(name)]
        return [str(Path(file).resolve()) for file in files]

    @functools.cached_property
    def teaching_features(self) -> TrainingFeatures:
        """What teaching retrains the transfer head on (read once, on first use); TeachingError when absent."""
        return load_training_features(features_path(self.model_dir / "transfer.pt"))

    def model_choices(self, taught: TaughtModels | None = None) -> list[tuple[str, str]]:
        """The model switcher's (label, name) pairs: the shipped models, then this visitor's taught ones."""
        return [(slot.label, name) for name, slot in self.slots.items()] + [(name, name) for name in (taught.names if taught else [])]

    def model(self, name: Any, taught: TaughtModels | None = None) -> LoadedModel:
        """The loaded model a request names (a shipped one, or one this session taught); anything else is an error
        with a message for the page."""
        if taught is not None and name in taught:
            return taught.models[name]
        slot = self.slots.get(name) if isinstance(name, str) else None
        if slot is None:
            choices = [*self.slots, *(taught.names if taught else [])]
            raise gr.Error(f"Unknown model {name!r}: choose one of {', '.join(choices)}.", title="Unknown model", print_exception=False)
        if slot.model is None:
            raise gr.Error(slot.error, title="Model unavailable", print_exception=False)
        return slot.model
