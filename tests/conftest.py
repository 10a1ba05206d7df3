"""Shared fixtures: small synthetic image folders made per test, and where the shared real photos are."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"
LANDMARKS = SHARED_DATA / "landmarks"
UDACITY_SAMPLES = SHARED_DATA / "udacity_samples"
EIFFEL_SAMPLE = next(iter(sorted((UDACITY_SAMPLES / "test" / "16.Eiffel_Tower").glob("*.jpg"))), None)


def synthetic_photo(label: int, seed: int, size: tuple[int, int] = (96, 72)) -> Image.Image:
    """A class-distinct picture: class k has its own hue and stripe direction, plus per-image noise."""
    rng = np.random.default_rng(seed)
    width, height = size
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    angle = label * np.pi / 5
    stripes = 0.5 + 0.5 * np.sin((x * np.cos(angle) + y * np.sin(angle)) / 4.0)
    hue = np.array([np.sin(label * 1.3), np.sin(label * 2.1 + 1), np.sin(label * 0.7 + 2)]) * 0.5 + 0.5
    pixels = stripes[..., None] * hue[None, None, :] + rng.normal(0, 0.05, (height, width, 3))
    return Image.fromarray((np.clip(pixels, 0, 1) * 255).astype(np.uint8), "RGB")


def make_image_folders(root: Path, classes: int = 3, train_per_class: int = 12, test_per_class: int = 4) -> Path:
    for offset, (split, count) in enumerate((("train", train_per_class), ("test", test_per_class))):
        for label in range(classes):
            folder = root / split / f"{label:02d}.Synthetic_Place_{label}"
            folder.mkdir(parents=True, exist_ok=True)
            for i in range(count):
                synthetic_photo(label, seed=offset * 100_000 + label * 1000 + i).save(folder / f"{i:03d}.jpg", quality=90)
    return root


@pytest.fixture
def image_folders(tmp_path: Path) -> Path:
    return make_image_folders(tmp_path / "dataset")


@pytest.fixture(scope="session")
def repo() -> Path:
    return REPO


def subprocess_env() -> dict[str, str]:
    """Environment for scripts run by tests: the repo importable from any working directory."""
    return dict(os.environ, PYTHONPATH=str(REPO), PYTHONUNBUFFERED="1")


PYTHON = sys.executable


def predict_in_fresh_process(model: Path, photo: Path) -> dict:
    """Only torch, PIL and numpy: what a user of the .pt file needs, no landmark_core."""
    script = textwrap.dedent(
        f"""
        import json, sys
        import numpy as np, torch
        from PIL import Image
        model = torch.jit.load({str(model)!r})
        image = torch.from_numpy(np.asarray(Image.open({str(photo)!r}).convert("RGB")).copy()).permute(2, 0, 1)
        probabilities = model(image[None])[0]
        assert "landmark_core" not in sys.modules
        print(json.dumps({{"classes": model.class_names, "probabilities": probabilities.tolist()}}))
        """
    )
    done = subprocess.run([PYTHON, "-c", script], capture_output=True, text=True, cwd="/", check=True)
    return json.loads(done.stdout)

# On CI every input a test needs must be there: a missing browser or photo folder fails instead of skipping.
ON_CI = os.environ.get("CI", "").strip().lower() == "true"


def require(present: bool, reason: str) -> None:
    """Skip the calling test (or fixture's tests) when `present` is false; on CI fail with `reason` instead."""
    if not present:
        if ON_CI:
            pytest.fail(f"CI=true but {reason}")
        pytest.skip(reason)


@pytest.fixture(scope="session")
def app_models(tmp_path_factory) -> Path:
    """The models in assets/models, with a small fixture model in any slot not yet trained."""
    from app_server import shipped_or_fixture_models  # app_server imports this module: load it lazily

    return shipped_or_fixture_models(tmp_path_factory.mktemp("app_models"))


@pytest.fixture(scope="session")
def shipped_app(tmp_path_factory, app_models):
    """The app as shipped (app_models and its default gallery), shared by the tests that only send it requests."""
    from app_server import start_app

    server = start_app(tmp_path_factory, app_models)
    yield server
    server.stop()


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory) -> Path:
    """Both slots filled with tiny models, without the teaching features (tests that use these do not teach;
    writing them takes ~10 s, and mutmut runs the inference tests once per mutant)."""
    from tiny_models import write_model  # tiny_models imports this module: load it lazily

    folder = tmp_path_factory.mktemp("models")
    write_model(folder, "scratch", seed=0)
    write_model(folder, "transfer", seed=1)
    return folder


@pytest.fixture(scope="module")
def model(model_dir):
    """The tiny scratch model of `model_dir`, loaded as the app loads it."""
    from landmark_core.model_files import load_model

    return load_model(model_dir, "scratch")
