"""The app as its users run it, for tests that talk to it over HTTP: `python app.py` in a subprocess on a
free loopback port (benchmarks/app_harness.py, shared with the benchmark), called through gradio_client (or
driven by a browser).

Also picks the models such a test runs against: the shipped ones in assets/models where present, and a
small random-weight fixture model in any slot assets/models does not fill.
"""

from __future__ import annotations

import functools
from pathlib import Path

import httpx
from gradio_client import Client, handle_file

from benchmarks.app_harness import AppProcess
from conftest import REPO, synthetic_photo
from landmark_core import model_files
from landmark_core.space_bundle import MODEL_FILE_SUFFIXES  # what a trained model leaves in assets/models
from tiny_models import write_model, write_teaching_features

START_TIMEOUT_S = 60
REQUEST_TIMEOUT_S = 60
SHIPPED_MODELS = REPO / "assets" / "models"


def is_shipped(name: str) -> bool:
    """Whether assets/models holds a trained `name` model (its .pt and its card)."""
    return all((SHIPPED_MODELS / f"{name}{suffix}").is_file() for suffix in (".pt", ".json"))


def shipped_or_fixture_models(folder: Path) -> Path:
    """A model folder for the app: assets/models itself when it holds both models; else `folder`, where each
    slot links the shipped files when present and otherwise gets a fixture model."""
    if all(is_shipped(name) for name in model_files.MODEL_NAMES):
        return SHIPPED_MODELS
    folder.mkdir(parents=True, exist_ok=True)
    for seed, name in enumerate(model_files.MODEL_NAMES):
        if not is_shipped(name):
            model_file = write_model(folder, name, seed=seed)
            if name == "transfer":
                write_teaching_features(model_file)
            continue
        for suffix in MODEL_FILE_SUFFIXES:
            if (SHIPPED_MODELS / f"{name}{suffix}").is_file():
                (folder / f"{name}{suffix}").symlink_to(SHIPPED_MODELS / f"{name}{suffix}")
    return folder


def synthetic_samples(folder: Path) -> Path:
    """A gallery of one synthetic photo, for apps that need no real samples."""
    (folder / "16.Eiffel_Tower").mkdir(parents=True)
    synthetic_photo(0, seed=1).save(folder / "16.Eiffel_Tower" / "sample.jpg")
    return folder


class Server(AppProcess):
    """The app (see benchmarks/app_harness.py) with a gradio_client connected to it."""

    def __init__(self, models: Path, log: Path, samples: Path | None = None, threads: int | None = 1):
        super().__init__(models, log, samples, threads, start_timeout=START_TIMEOUT_S)

    @functools.cached_property
    def client(self) -> Client:
        """Connected on first use, so that a subclass started another way (SpaceProcess) gets one too."""
        return self.new_client()

    def new_client(self) -> Client:
        return Client(self.url, verbose=False)

    def predict(self, photo: Path, model: str = "scratch", k: int = 3, client: Client | None = None, timeout: float = REQUEST_TIMEOUT_S):
        """The /predict endpoint's JSON; an app error raises gradio_client's AppError, a hung worker TimeoutError."""
        job = (client or self.client).submit(handle_file(str(photo)), model, k, api_name="/predict")
        return job.result(timeout=timeout)

    def config(self) -> dict:
        return httpx.get(self.url + "config", timeout=10).json()

    def props(self, elem_id: str) -> dict:
        """The page's component with this elem_id, as the page receives it."""
        return next(c["props"] for c in self.config()["components"] if c.get("props", {}).get("elem_id") == elem_id)


def start_app(tmp_path_factory, models: Path, samples: Path | None = None, threads: int | None = 1) -> Server:
    """A Server with its log in a fresh temporary folder (samples None: the app's default gallery)."""
    return Server(models, tmp_path_factory.mktemp("logs") / "app.log", samples, threads)
