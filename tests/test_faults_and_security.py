"""What the app does when its own files are broken, and what it refuses to hand out or load.

(a) A model file that is truncated, random bytes or missing, or a missing model card: the app still starts,
    says which file is wrong and which command rebuilds it, and serves the other model. (test_app_api.py
    runs the app with a truncated transfer.pt; test_model_files.py checks load_model's messages.)
(b) Path traversal: the file routes serve the page's own pictures and nothing beside or above them.
(c) TorchScript can run code when loaded, so torch.jit.load only ever sees <model folder>/{scratch,transfer}.pt.
"""

from __future__ import annotations

import http.client
import os
import random
from pathlib import Path
from urllib.parse import quote

import gradio as gr
import pytest
import torch
from gradio_client.exceptions import AppError

from app_server import start_app, synthetic_samples
from benchmarks.app_harness import HOST
from conftest import REPO, require, synthetic_photo
from landmark_core import model_files, ui
from landmark_core.ui.classify import api_predict
from landmark_core.ui.facts import facts_markdown
from landmark_core.samples import default_samples
from tiny_models import make_model_dir

OTHER = {"scratch": "transfer", "transfer": "scratch"}


# --- (a) broken model files -----------------------------------------------------------------------------


def truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


# fault -> (what it does to <folder>/<name>.*, the file the message must name, what it must say about it)
FAULTS = {
    "truncated": (truncate, ".pt", "is corrupt or truncated"),
    "random bytes": (lambda pt: pt.write_bytes(random.Random(0).randbytes(4096)), ".pt", "is corrupt or truncated"),
    "missing file": (lambda pt: pt.unlink(), ".pt", "is missing"),
    "missing card": (lambda pt: pt.with_suffix(".json").unlink(), ".json", "is missing"),
}


def break_model(folder: Path, name: str, fault: str) -> str:
    """Apply `fault` to `name` in `folder`; return the sentence the app must show about it."""
    damage, suffix, problem = FAULTS[fault]
    damage(folder / f"{name}.pt")
    return f"{folder / name}{suffix} {problem}"


@pytest.fixture(scope="module")
def photo(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("photo") / "photo.jpg"
    synthetic_photo(1, seed=3, size=(160, 120)).save(path)
    return path


@pytest.mark.parametrize("name", model_files.MODEL_NAMES)
@pytest.mark.parametrize("fault", FAULTS)
def test_a_broken_model_is_explained_and_the_other_one_serves(fault, name, tmp_path, photo):
    models = make_model_dir(tmp_path / "models")
    sentence = break_model(models, name, fault)
    lens = ui.LandmarkLens(models, samples=[])
    banner = lens.banner()
    assert sentence in banner and f"python train_{name}.py" in banner
    assert lens.slots[name].label.endswith("unavailable") and sentence in facts_markdown(lens.slots[name])
    other = OTHER[name]
    assert lens.default_model == other and f"Serving {lens.slots[other].model.title} only" in banner
    assert api_predict(lens, {"path": str(photo)}, other, 2)["model"] == other
    with pytest.raises(gr.Error, match="is (corrupt|missing)") as error:
        api_predict(lens, {"path": str(photo)}, name, 2)
    assert sentence in error.value.message and f"python train_{name}.py" in error.value.message


def test_with_both_models_broken_the_page_still_builds_and_says_so(tmp_path, photo):
    models = make_model_dir(tmp_path / "models")
    sentences = [break_model(models, "scratch", "random bytes"), break_model(models, "transfer", "missing file")]
    lens = ui.LandmarkLens(models, samples=[])
    assert "No model can answer until one is rebuilt" in lens.banner()
    assert all(sentence in lens.banner() for sentence in sentences)
    assert isinstance(ui.build_page(lens), gr.Blocks)
    with pytest.raises(gr.Error, match="transfer.pt is missing"):
        api_predict(lens, {"path": str(photo)}, "transfer", 2)


def test_the_running_app_explains_a_missing_card_and_serves_the_other_model(tmp_path_factory, photo):
    models = make_model_dir(tmp_path_factory.mktemp("models_without_card"))
    sentence = break_model(models, "scratch", "missing card")
    app = start_app(tmp_path_factory, models, synthetic_samples(tmp_path_factory.mktemp("samples")))
    try:
        banner = app.props("model-banner")
        assert banner["visible"] and sentence in banner["value"] and "python train_scratch.py" in banner["value"]
        assert app.props("model-radio")["value"] == "transfer"
        assert app.predict(photo, "transfer", 2)["model"] == "transfer"
        with pytest.raises(AppError, match="scratch.json is missing"):
            app.predict(photo, "scratch", 2)
    finally:
        app.stop()


# --- (b) path traversal ---------------------------------------------------------------------------------


def http_get(app, path: str) -> tuple[int, bytes]:
    """GET `path` byte for byte: http.client sends it as written (httpx would normalise the ../ away)."""
    connection = http.client.HTTPConnection(HOST, app.port, timeout=10)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


@pytest.fixture(scope="module")
def sample() -> Path:
    """A photo of the default gallery, which the shipped app serves."""
    samples = default_samples()
    require(bool(samples), "the app has no gallery photos (assets/samples is empty and ../shared/data is absent)")
    return samples[0].path


def traversals(sample: Path, target: Path) -> list[str]:
    """Ways to name `target` starting from an allowed file's folder: plain ../, %-encoded and double-encoded."""
    climb = os.path.relpath(target, sample.parent)
    plain = f"{sample.parent}/{climb}"
    return [
        plain,
        plain.replace("../", "%2e%2e/"),
        plain.replace("../", "%2e%2e%2f"),
        plain.replace("../", "%252e%252e%252f"),
        f"{sample}/../{climb}",  # the allowed file taken for a folder
    ]


def forbidden_paths(app, sample: Path) -> list[str]:
    secrets = [REPO / "app.py", Path(app.models) / "transfer.pt", Path(app.models) / "transfer.json", Path("/etc/passwd")]
    paths = [str(secret) for secret in secrets] + [quote(str(secret), safe="") for secret in secrets]
    paths += [climb for secret in secrets for climb in traversals(sample, secret)]
    return paths + ["app.py", "../main/app.py", "assets/models/transfer.pt", "..%2f..%2f..%2fetc%2fpasswd", "~/.bashrc", "/proc/self/environ", "file:///etc/passwd"]


# The routes Gradio 6 serves files on, found by asking the running app for a gallery photo on each candidate:
# these two answer 200. Gradio 3's /file= and /file/ answer 404 even for that photo (DEAD_FILE_ROUTES), so a
# refusal there would prove nothing; they are checked only to notice if they come back to life.
FILE_ROUTES = ["/gradio_api/file=", "/gradio_api/file/"]
DEAD_FILE_ROUTES = ["/file=", "/file/"]


@pytest.mark.parametrize("route", FILE_ROUTES)
def test_file_routes_serve_the_pages_files_and_refuse_everything_else(shipped_app, sample, route):
    status, body = http_get(shipped_app, route + str(sample))
    assert status == 200 and body == sample.read_bytes()  # the route is live: its refusals below mean something
    secrets = {"app.py": b"demo.launch", "/etc/passwd": b"root:", "transfer.pt": b"PK\x03\x04"}
    paths = forbidden_paths(shipped_app, sample)
    assert len(paths) == 35  # the README counts these
    for path in paths:
        status, body = http_get(shipped_app, route + path)
        assert status in (403, 404), f"{route}{path} answered {status}"
        assert not any(marker in body for marker in secrets.values())


@pytest.mark.parametrize("route", DEAD_FILE_ROUTES)
def test_gradio_3_file_routes_serve_nothing(shipped_app, sample, route):
    """If one of these starts serving, move it to FILE_ROUTES so its refusals are tested too."""
    assert http_get(shipped_app, route + str(sample))[0] == 404


def test_the_model_plots_are_served(shipped_app):
    plots = sorted(Path(shipped_app.models).glob("*_curves.png"))  # shown under "Model facts"
    require(bool(plots), f"no model plots in {shipped_app.models}")
    for plot in plots:
        assert http_get(shipped_app, f"/gradio_api/file={plot}") == (200, plot.read_bytes())


# --- (c) what torch.jit.load may open -------------------------------------------------------------------


@pytest.fixture
def jit_loads(monkeypatch) -> list[str]:
    """Every path torch.jit.load is asked to open from now on (it still loads them)."""
    opened, real_load = [], torch.jit.load

    def recording_load(path, *args, **kwargs):
        opened.append(str(path))
        return real_load(path, *args, **kwargs)

    monkeypatch.setattr(torch.jit, "load", recording_load)
    return opened


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> Path:
    return make_model_dir(tmp_path_factory.mktemp("models"))


@pytest.mark.parametrize(
    "name",
    ["../transfer", "scratch.pt", "/etc/passwd", "Transfer", "transfer/", "scratch/../transfer", "", " scratch", "scratch\x00", "predictor"],
)
def test_load_model_refuses_any_other_name_before_opening_a_file(models, jit_loads, name):
    with pytest.raises(ValueError, match="Unknown model"):
        model_files.load_model(models, name)
    assert jit_loads == []


@pytest.mark.parametrize("name", model_files.MODEL_NAMES)
def test_load_model_opens_only_that_models_file_in_the_folder(models, jit_loads, name):
    model_files.load_model(models, name)
    assert jit_loads == [str(models / f"{name}.pt")]


def test_the_page_never_loads_a_model_on_request(models, jit_loads, photo):
    lens = ui.LandmarkLens(models, samples=[])
    jit_loads.clear()
    for name in ("../../etc/passwd", "scratch.pt", None, ["scratch"]):
        with pytest.raises(gr.Error, match="Unknown model"):
            api_predict(lens, {"path": str(photo)}, name, 2)
    api_predict(lens, {"path": str(photo)}, "scratch", 2)
    assert jit_loads == []
