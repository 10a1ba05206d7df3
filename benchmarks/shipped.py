"""The shipped predictors the benchmark measures: <models>/scratch.pt and transfer.pt, and their model cards."""

from __future__ import annotations

from pathlib import Path

import torch

from landmark_core.files import read_json

MODELS = ("scratch", "transfer")


def load_predictor(models_dir: Path, name: str) -> torch.jit.ScriptModule:
    path = models_dir / f"{name}.pt"
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing (python train_{name}.py makes it)")
    return torch.jit.load(str(path), map_location="cpu").eval()


def load_card(models_dir: Path, name: str) -> dict:
    path = models_dir / f"{name}.json"
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing (python train_{name}.py writes it beside {name}.pt)")
    return read_json(path)
