"""The shipped model files: which ones the app may load, loading and checking them, and the command that rebuilds each.

A model is a TorchScript predictor (`<name>.pt`, landmark_core.predictor's contract) with its card (`<name>.json`)
and, optionally, `<name>_crossvalidation.json`. Anything wrong with them is a ModelFileError that names the file
and the command that rebuilds it; nothing here predicts (landmark_core.inference does).
"""

from __future__ import annotations

import json
import os
import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path

import torch

from landmark_core.predictor import CONTRACT

# The only model files the app will ever load, and the command that rebuilds each when its card is unreadable.
# A TorchScript file can run arbitrary code when loaded, so no other path is ever accepted.
REBUILD_COMMANDS = {"scratch": "python train_scratch.py", "transfer": "python train_transfer.py"}
MODEL_NAMES = tuple(REBUILD_COMMANDS)
# Where the training scripts write by default (their --out, run from the repository root) and the app reads.
DEFAULT_MODEL_DIR = Path(__file__).resolve().parents[1] / "assets" / "models"


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


def _read_json(path: Path) -> tuple[object, str | None]:
    """(the file's JSON, None), or (None, what is wrong with the file: "is missing" or "is unreadable")."""
    try:
        return json.loads(path.read_text(encoding="utf-8")), None
    except (OSError, ValueError) as error:
        return None, "is missing" if isinstance(error, FileNotFoundError) else "is unreadable"


def rebuild_command(model_dir: str | os.PathLike, name: str) -> str:
    """The command that rebuilds `name` in `model_dir`, read from its card when the card is readable."""
    return _card_command(_read_json(Path(model_dir) / f"{name}.json")[0], name, model_dir)


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
    card, card_problem = _read_json(card_path)  # read once: it names the rebuild command and describes the model
    command = _card_command(card, name, model_dir)
    predictor = _load_predictor(path, command)
    if card_problem:
        raise ModelFileError(f"Model card {card_path} {card_problem}. Rebuild it with: {command}")
    if not isinstance(card, dict):
        raise ModelFileError(f"Model card {card_path} is not a JSON object. Rebuild it with: {command}")
    if "classes" in card and list(card["classes"]) != list(predictor.class_names):
        raise ModelFileError(f"Model card {card_path} lists other classes than {path.name}. Rebuild both with: {command}")
    return LoadedModel(name, predictor, card, _optional_json(path.with_name(f"{name}_crossvalidation.json")), Path(model_dir))


def _optional_json(path: Path) -> dict:
    """The JSON object in `path`; empty when it is missing or unreadable (it only adds facts to show)."""
    value, _ = _read_json(path)
    return value if isinstance(value, dict) else {}


def load_model_file(path: str | os.PathLike) -> LoadedModel:
    """Any predictor file a command-line user names (its card beside it is optional: only the title reads it).

    Never for the page: a TorchScript file can run code when loaded, so the app loads only `load_model`'s two.
    """
    path = Path(path)
    predictor = _load_predictor(path, "python train_transfer.py --out <folder>")
    return LoadedModel(path.stem, predictor, _optional_json(path.with_suffix(".json")))
