"""Landmark Lens benchmark: what the shipped models do on this machine, and what our recipes buy over the course's.

    python benchmarks/run.py [--quick | --smoke] [--data-dir DIR] [--udacity-dir DIR] [--models DIR]
                             [--out benchmarks/results.json] [--skip-app]

Measures, on this machine and in this one run:
  1. accuracy of the shipped predictors (<models>/scratch.pt, transfer.pt) on <data-dir>/test and on the official
     Udacity sample photos (only the photos of classes the model knows; the others are counted as skipped);
  2. our two training recipes (train_scratch.py, train_transfer.py run as subprocesses into a temporary folder, so
     the shipped models are never touched) against the course's recipes trained here on the same data, with the
     same epoch budget and image size: its plain 3-block CNN trained its way (SGD, lr halved on plateaus, crop and
     flip), and a frozen EfficientNet-Lite0 with a linear head trained through the backbone every epoch; plus the
     course's CNN trained by our recipe, which separates what the architecture buys from what the recipe buys;
  3. latency (one photo: decode + preprocess + forward) and batch-32 throughput of each shipped predictor, with
     this process's torch threads and with one thread;
  4. the app's end-to-end /predict time through gradio_client, and the app's peak memory;
then prints a table and PASS/FAIL lines for the product's targets, and writes everything to --out as JSON.

Modes: the default runs the full recipes (56 min on 2 idle cores); --quick trims the epochs (under
10 min; its training-time and accuracy comparisons are indicative only); --smoke is the smallest run, for tests.
Progress goes to stderr, the report to stdout.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import os
import platform
import shlex
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

import torch  # noqa: E402
from torch import Tensor, nn  # noqa: E402
from torchvision.transforms import v2  # noqa: E402
from tqdm import tqdm  # noqa: E402

from landmark_core import backbones, data, evaluate, images, runtime  # noqa: E402
from landmark_core.files import read_json, write_json  # noqa: E402
from landmark_core.models import TransferNet  # noqa: E402
from landmark_core.places import display_name  # noqa: E402
from landmark_core.predictor import Predictor, export_predictor  # noqa: E402
from landmark_core.samples import UDACITY_SAMPLES_TEST  # noqa: E402
from landmark_core.training import HISTORY, PLATEAU, FitConfig, fit  # noqa: E402

MODELS = ("scratch", "transfer")
HOST = "127.0.0.1"
APP_START_TIMEOUT_S = 120
BATCH = 32


@dataclass(frozen=True)
class Mode:
    name: str
    note: str
    scratch_args: tuple[str, ...]  # extra arguments for train_scratch.py (the course CNN runs get the same budget)
    transfer_args: tuple[str, ...]  # extra arguments for train_transfer.py
    transfer_baseline_epochs: int | None  # None: the same epochs as train_transfer.py ran with
    latency_repeats: int
    throughput_batches: int
    app_calls: int
    app_warmup: int


MODES = {
    "full": Mode(
        "full",
        "full mode: our scripts' default recipes; each baseline gets the same epoch budget and image size.",
        scratch_args=(),
        transfer_args=(),
        transfer_baseline_epochs=None,
        latency_repeats=30,
        throughput_batches=10,
        app_calls=20,
        app_warmup=3,
    ),
    "quick": Mode(
        "quick",
        "quick mode: scratch recipe and both course CNN runs 3 epochs each; transfer recipe with --views 1 (default epochs, "
        "its epochs train a head on cached features in ~0.1 s each), frozen-linear baseline 2 epochs. "
        "Training-time and accuracy comparisons are indicative only.",
        scratch_args=("--epochs", "3"),
        transfer_args=("--views", "1"),
        transfer_baseline_epochs=2,
        latency_repeats=30,
        throughput_batches=5,
        app_calls=20,
        app_warmup=3,
    ),
    "smoke": Mode(
        "smoke",
        "smoke mode: 1 epoch everywhere at 32 px; only checks that every measurement runs. Numbers mean nothing.",
        scratch_args=("--epochs", "1", "--image-size", "32", "--batch-size", "16"),
        transfer_args=("--epochs", "1", "--views", "1", "--image-size", "32"),
        transfer_baseline_epochs=1,
        latency_repeats=3,
        throughput_batches=1,
        app_calls=3,
        app_warmup=1,
    ),
}


def log(message: str) -> None:
    tqdm.write(f"[benchmark] {message}", file=sys.stderr)


def attempt(what: str, measure: Callable[..., dict], *args) -> dict:
    """Run one measurement; a failure is recorded as {"error": ...} so the others still run."""
    log(f"{what} ...")
    started = time.perf_counter()
    try:
        result = measure(*args)
    except Exception as error:  # a benchmark reports what broke and carries on
        traceback.print_exc(file=sys.stderr)
        return {"error": f"{type(error).__name__}: {error}"}
    log(f"{what}: done in {time.perf_counter() - started:.1f} s")
    return result


def ratio(ours: float | None, baseline: float | None) -> float | None:
    return round(ours / baseline, 3) if ours is not None and baseline else None


# --- the machine ---------------------------------------------------------------------------------------------


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def git_facts() -> dict:
    def git(*args: str) -> str:
        done = subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True, timeout=30)
        return done.stdout.strip() if done.returncode == 0 else ""

    return {"git_commit": git("rev-parse", "HEAD") or None, "git_dirty": bool(git("status", "--porcelain"))}


def machine_facts() -> dict:
    load = os.getloadavg() if hasattr(os, "getloadavg") else None
    return {
        "cpu_model": cpu_model(),
        "cpu_count": os.cpu_count(),
        "cpus_allowed": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "load_average_at_start": [round(value, 2) for value in load] if load else None,
        "torch_version": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "omp_num_threads_env": os.environ.get("OMP_NUM_THREADS"),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "command": shlex.join(["python", os.path.relpath(sys.argv[0], REPO), *sys.argv[1:]]),
        **git_facts(),
    }


# --- accuracy of the shipped predictors ----------------------------------------------------------------------


def labelled_photos(split_dir: Path, class_names: Sequence[str]) -> tuple[list[Path], list[int], dict[str, int]]:
    """The photos under `split_dir/<NN.Class_Name>/` whose class the model knows, their label indices, and
    {class: photos} for the classes it does not know (skipped)."""
    files: list[Path] = []
    labels: list[int] = []
    skipped: dict[str, int] = {}
    for class_dir in sorted(entry for entry in split_dir.iterdir() if entry.is_dir() and not entry.name.startswith(".")):
        photos = [path for path in sorted(class_dir.iterdir()) if path.suffix.lower() in data.IMAGE_SUFFIXES]
        name = display_name(class_dir.name)
        if name in class_names:
            files += photos
            labels += [list(class_names).index(name)] * len(photos)
        else:
            skipped[name] = len(photos)
    return files, labels, skipped


def accuracy_on(predictor: torch.nn.Module, files: Sequence[Path], labels: Sequence[int], desc: str) -> dict:
    """landmark_core.evaluate's report (top-1, top-3, per class, confusion), one photo at a time as the app sees it."""
    probabilities = evaluate.predict_files(predictor, files, desc)
    return {"n": len(files), **evaluate.accuracy_report(probabilities, labels, list(predictor.class_names))}


def folder_accuracy(predictor: torch.nn.Module, split_dir: Path, desc: str) -> dict:
    files, labels, skipped = labelled_photos(split_dir, list(predictor.class_names))
    result = {"folder": str(split_dir), "n_skipped": sum(skipped.values()), "skipped_classes": skipped}
    if not files:
        return {**result, "n": 0, "accuracy": None, "top3_accuracy": None, "per_class_accuracy": {}}
    return {**result, **accuracy_on(predictor, files, labels, desc)}


def load_predictor(models_dir: Path, name: str) -> torch.jit.ScriptModule:
    path = models_dir / f"{name}.pt"
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing (python train_{name}.py makes it)")
    return torch.jit.load(str(path), map_location="cpu").eval()


def shipped_accuracy(models_dir: Path, test_dir: Path, udacity_dir: Path) -> dict:
    def both_folders(name: str) -> dict:
        predictor = load_predictor(models_dir, name)
        return {
            folder_name: attempt(f"{name}: accuracy on {folder}", folder_accuracy, predictor, folder, f"{name} {folder_name}")
            for folder_name, folder in (("test", test_dir), ("udacity_samples", udacity_dir))
        }

    return {name: attempt(f"{name}: load", both_folders, name) for name in MODELS}


# --- our recipes, run as the user runs them ------------------------------------------------------------------


def subprocess_env() -> dict[str, str]:
    return dict(os.environ, PYTHONPATH=str(REPO), PYTHONUNBUFFERED="1", GRADIO_ANALYTICS_ENABLED="False")


def run_recipe(name: str, data_dir: Path, workdir: Path, extra: Sequence[str]) -> dict:
    """`python train_<name>.py` into `workdir`: wall time, per-epoch times (history.json) and the card's numbers."""
    out, run_dir = workdir / f"{name}_out", workdir / f"{name}_run"
    command = [sys.executable, f"train_{name}.py", "--data-dir", str(data_dir), "--out", str(out), "--run-dir", str(run_dir), *extra]
    started = time.perf_counter()
    # The script's own progress bars and epoch lines go to our stderr; our stdout keeps only the report.
    subprocess.run(command, cwd=REPO, env=subprocess_env(), stdout=sys.stderr, stderr=sys.stderr, check=True)
    wall = time.perf_counter() - started
    card = read_json(out / f"{name}.json")
    epoch_seconds = [record["seconds"] for record in read_json(run_dir / HISTORY)]
    return {
        "command": shlex.join(["python", f"train_{name}.py", *command[2:]]),
        "wall_seconds": round(wall, 1),
        "train_seconds": card["train_seconds"],  # decode + (features) + fit, as the card states it
        "epochs_budget": card["fit_config"]["epochs"],
        "epochs_run": len(epoch_seconds),
        "epoch_seconds": [round(seconds, 2) for seconds in epoch_seconds],
        "seconds_per_epoch": round(statistics.mean(epoch_seconds), 2),
        "setup_seconds": round(card["train_seconds"] - sum(epoch_seconds), 1),  # decoding, backbone features
        "image_size": card["image_size"],
        "resize_size": card["resize_size"],
        "fit_config": card["fit_config"],
        "test_accuracy": card["test_accuracy"],
        "top3_accuracy": card["top3_accuracy"],
        "per_class_accuracy": card["per_class_accuracy"],
        "n_train": card["n_train"],
        "n_test": card["n_test"],
        "backbone": card.get("backbone"),
    }


# --- the course's recipes, as baselines ----------------------------------------------------------------------


class CourseCNN(nn.Module):
    """The course's simple CNN: 3 x (conv 3x3 -> ReLU -> max-pool 2), flatten -> Linear(500) -> ReLU -> Dropout
    -> Linear(classes). A baseline, not a product model; its flatten size depends on the image size.

    `features` and `classifier` are named as in our models only so that the Predictor wrapper scripts; its
    heatmap is meaningless (the classifier does not read the feature map) and is never asked for.
    """

    def __init__(self, num_classes: int, image_size: int, dropout: float = 0.25):
        super().__init__()
        blocks: list[nn.Module] = []
        for in_channels, out_channels in ((3, 16), (16, 32), (32, 64)):
            blocks += [nn.Conv2d(in_channels, out_channels, 3, padding=1), nn.ReLU(inplace=True), nn.MaxPool2d(2)]
        self.body = nn.Sequential(*blocks)
        side = image_size // 8
        self.hidden = nn.Sequential(nn.Flatten(), nn.Linear(64 * side * side, 500), nn.ReLU(inplace=True), nn.Dropout(dropout))
        self.classifier = nn.Linear(500, num_classes)

    def features(self, x: Tensor) -> Tensor:
        return self.body(x)

    def forward(self, x: Tensor) -> Tensor:
        return self.classifier(self.hidden(self.features(x)))


class FrozenBackboneLinear(TransferNet):
    """The course's transfer recipe: a frozen pretrained backbone and one linear layer, trained on images that go
    through the backbone every step (no feature cache, no augmented views). The backbone stays in eval mode, so
    training touches neither its weights nor its BatchNorm statistics."""

    def __init__(self, backbone: nn.Module, num_classes: int):
        super().__init__(backbone.requires_grad_(False), num_classes, dropout=0.0)

    def train(self, mode: bool = True) -> FrozenBackboneLinear:
        super().train(mode)
        self.backbone.eval()
        return self


TrainView = Callable[[int, Sequence[float], Sequence[float]], Callable[[Tensor], Tensor]]  # (crop, mean, std) -> transform


def course_train_transform(crop_size: int, mean: Sequence[float], std: Sequence[float]) -> Callable[[Tensor], Tensor]:
    """The course's training view: a random crop of the photo decoded at 256/224 of the crop, and a random flip."""
    return v2.Compose([v2.RandomCrop(crop_size), v2.RandomHorizontalFlip(), v2.ToDtype(torch.float32, scale=True), v2.Normalize(list(mean), list(std))])


@dataclass(frozen=True)
class BaselineRecipe:
    name: str
    description: str
    fit_config: FitConfig
    normalization: Callable[[list[Tensor]], tuple[Sequence[float], Sequence[float]]]
    model: Callable[[int, int], nn.Module]  # (classes, image size) -> model
    train_view: TrainView | None  # None: the plain eval view of each photo every epoch
    resize_size: int  # the eval view's short side before the centre crop


COURSE_CNN = "course CNN (conv16-conv32-conv64, each + max-pool; Linear(500), dropout 0.25, Linear(classes))"


def scratch_baselines(ours: dict) -> list[BaselineRecipe]:
    """The course's CNN trained the course's way (the target's baseline), then the same CNN trained exactly as
    train_scratch.py trains ours (same fit, optimizer, augmentation and eval view): the architecture alone."""
    epochs, image_size = ours["fit_config"]["epochs"], ours["image_size"]
    # The course starter's defaults: SGD lr 0.01 momentum 0.5, no weight decay, plain cross-entropy, batch 32,
    # ReduceLROnPlateau(factor 0.5, patience 2) and every epoch run, keeping the best validation-loss weights.
    course_fit = FitConfig(
        epochs=epochs, batch_size=BATCH, lr=0.01, weight_decay=0.0, label_smoothing=0.0, patience=epochs,
        seed=ours["fit_config"]["seed"], schedule=PLATEAU, momentum=0.5,
    )
    return [
        BaselineRecipe(
            "course_recipe",
            f"{COURSE_CNN}; SGD, lr halved on plateaus, batch {BATCH}, random crop + flip",
            course_fit, data.channel_stats, CourseCNN, course_train_transform, data.decode_size(image_size),
        ),
        BaselineRecipe(
            "course_cnn_our_recipe",
            f"{COURSE_CNN}; trained by train_scratch.py's recipe",
            FitConfig(**ours["fit_config"]), data.channel_stats, CourseCNN, data.train_transform, ours["resize_size"],
        ),
    ]


def transfer_baselines(ours: dict, epochs: int | None) -> list[BaselineRecipe]:
    """train_transfer.py's backbone, image size and head optimizer settings; batch 32 as in the course (more steps
    per epoch than our batch 256, which favours the baseline); the plain eval view of each photo every epoch."""
    config = FitConfig(**{**ours["fit_config"], "batch_size": BATCH, "epochs": epochs or ours["fit_config"]["epochs"]})
    backbone = ours["backbone"] or "efficientnet_lite0"
    return [
        BaselineRecipe(
            "frozen_linear",
            f"{backbone} (ImageNet weights, frozen, features recomputed every epoch) + linear head",
            config,
            lambda _images: (backbones.NORMALIZE_MEAN, backbones.NORMALIZE_STD),
            lambda classes, _size: FrozenBackboneLinear(backbones.load_backbone(backbone), classes),
            None,
            ours["resize_size"],
        )
    ]


def train_baseline(recipe: BaselineRecipe, data_dir: Path, ours: dict, workdir: Path) -> dict:
    """Train the baseline here (timed like a card's train_seconds: decode + fit), export it as a Predictor and
    evaluate the exported file on test/ exactly as release() evaluates ours."""
    resize_size, image_size = recipe.resize_size, ours["image_size"]
    started = time.perf_counter()
    prepared = data.prepare(data_dir, data.decode_size(image_size), recipe.fit_config.seed, cache_dir=None)
    mean, std = recipe.normalization(prepared.train_images)
    plain = data.eval_transform(resize_size, image_size, mean, std)
    train_view = plain if recipe.train_view is None else recipe.train_view(image_size, mean, std)
    torch.manual_seed(recipe.fit_config.seed)  # initial weights, as our scripts seed theirs
    model = recipe.model(len(prepared.train.class_folders), image_size)
    with contextlib.redirect_stdout(sys.stderr):  # fit's epoch lines are progress; stdout keeps only the report
        history = fit(
            model,
            data.TensorImageDataset(prepared.train_images, prepared.train_labels, train_view),
            data.TensorImageDataset(prepared.valid_images, prepared.valid_labels, plain),
            workdir / f"{recipe.name}_run",
            recipe.fit_config,
        )
    train_seconds = time.perf_counter() - started
    class_names = [display_name(folder) for folder in prepared.train.class_folders]
    path = workdir / f"{recipe.name}.pt"
    export_predictor(Predictor(model, class_names, mean, std, resize_size, image_size), path)
    report = accuracy_on(torch.jit.load(str(path)), prepared.test.files, prepared.test.labels, f"{recipe.name} test")
    epoch_seconds = [record.seconds for record in history]
    return {
        "recipe": recipe.description,
        "train_seconds": round(train_seconds, 1),
        "epochs_budget": recipe.fit_config.epochs,
        "epochs_run": len(history),
        "epoch_seconds": [round(seconds, 2) for seconds in epoch_seconds],
        "seconds_per_epoch": round(statistics.mean(epoch_seconds), 2),
        "image_size": image_size,
        "resize_size": resize_size,
        "fit_config": vars(recipe.fit_config),
        "test_accuracy": report["accuracy"],
        "top3_accuracy": report["top3_accuracy"],
        "per_class_accuracy": report["per_class_accuracy"],
        "n_test": report["n"],
    }


def compare_recipes(
    name: str, data_dir: Path, workdir: Path, extra: Sequence[str], baselines: Callable[[dict], list[BaselineRecipe]]
) -> dict:
    """Our recipe, then each baseline with its budget; ratios are ours / baseline."""
    ours = attempt(f"train_{name}.py", run_recipe, name, data_dir, workdir, extra)
    if "error" in ours:
        return {"ours": ours, "baselines": {"error": "not run: our recipe failed, so their budget is unknown"}}
    trained = {recipe.name: attempt(f"baseline {recipe.name}", train_baseline, recipe, data_dir, ours, workdir) for recipe in baselines(ours)}
    ratios = {
        baseline: {key: ratio(ours.get(key), result.get(key)) for key in ("test_accuracy", "train_seconds")}
        for baseline, result in trained.items()
    }
    return {"ours": ours, "baselines": trained, "ratios": ratios}


# --- speed ---------------------------------------------------------------------------------------------------


def uniform_batch(files: Sequence[Path], side: int) -> Tensor:
    """BATCH photos (cycled if fewer) decoded, short side at `side`, centre-cropped square: uint8 (BATCH,3,side,side)."""
    tensors = []
    for index in range(BATCH):
        image = data.resize_short_side(images.load_tensor(files[index % len(files)], side), side)
        top, left = (image.shape[1] - side) // 2, (image.shape[2] - side) // 2
        tensors.append(image[:, top : top + side, left : left + side])
    return torch.stack(tensors)


@torch.inference_mode()
def throughput(predictor: torch.nn.Module, batch: Tensor, batches: int) -> float:
    """Images per second through preprocess + forward for uint8 batches of BATCH."""
    for _ in range(2):
        predictor(batch)
    started = time.perf_counter()
    for _ in range(batches):
        predictor(batch)
    return round(batches * len(batch) / (time.perf_counter() - started), 1)


def speed(predictor: torch.nn.Module, files: Sequence[Path], mode: Mode) -> dict:
    """Latency of one real JPEG and batch throughput, with this process's threads and with one thread."""
    batch = uniform_batch(files, predictor.resize_size)
    default_threads = torch.get_num_threads()
    results = {"photo": files[0].name, "batch_size": BATCH, "batch_input": f"uint8 {tuple(batch.shape)}"}
    for label, threads in (("threads_default", default_threads), ("threads_1", 1)):
        torch.set_num_threads(threads)
        try:
            results[label] = {
                "torch_threads": threads,
                "latency_ms": evaluate.latency_ms(predictor, files[0], repeats=mode.latency_repeats),
                "images_per_second": throughput(predictor, batch, mode.throughput_batches),
            }
        finally:
            torch.set_num_threads(default_threads)
    return results


def shipped_speed(models_dir: Path, test_dir: Path, mode: Mode) -> dict:
    files = data.find_images(test_dir.parent, test_dir.name).files

    def model_speed(name: str) -> dict:
        return speed(load_predictor(models_dir, name), files, mode)

    return {name: attempt(f"{name}: latency and throughput", model_speed, name) for name in MODELS}


# --- the app, end to end -------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return probe.getsockname()[1]


def memory_kb(pid: int) -> dict[str, int]:
    """VmHWM (peak resident set) and VmRSS of a process, in kB, from /proc."""
    values = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, rest = line.partition(":")
        if key in ("VmHWM", "VmRSS"):
            values[key] = int(rest.split()[0])
    return values


def start_app(models_dir: Path, photo: Path, workdir: Path) -> tuple[subprocess.Popen, str, float]:
    """`python app.py` on a free loopback port; returns once its page answers."""
    import httpx

    samples = workdir / "app_samples" / "16.Eiffel_Tower"
    samples.mkdir(parents=True, exist_ok=True)
    (samples / photo.name).write_bytes(photo.read_bytes())
    port = free_port()
    url = f"http://{HOST}:{port}/"
    command = [sys.executable, "app.py", "--host", HOST, "--port", str(port), "--models", str(models_dir), "--samples", str(samples.parent)]
    env = {key: value for key, value in subprocess_env().items() if key not in ("SPACE_ID", "GRADIO_SERVER_NAME")}
    app_log = (workdir / "app.log").open("w")
    started = time.perf_counter()
    process = subprocess.Popen(command, cwd=REPO, env=env, stdout=app_log, stderr=subprocess.STDOUT)
    while time.perf_counter() - started < APP_START_TIMEOUT_S:
        if process.poll() is not None:
            raise RuntimeError(f"app.py exited with {process.returncode}: {(workdir / 'app.log').read_text()[-2000:]}")
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return process, url, time.perf_counter() - started
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    stop(process)
    raise RuntimeError(f"app.py did not answer within {APP_START_TIMEOUT_S} s")


def stop(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def app_round_trips(models_dir: Path, photo: Path, workdir: Path, mode: Mode) -> dict:
    """Sequential /predict calls per model through gradio_client after warm-up; then the app's peak memory."""
    from gradio_client import Client, handle_file

    def timed_calls(name: str) -> dict:
        client_ms, server_ms = [], []
        for call in tqdm(range(mode.app_warmup + mode.app_calls), desc=f"app /predict {name}", unit="call", leave=False):
            started = time.perf_counter()
            answer = client.predict(handle_file(str(photo)), name, 3, api_name="/predict")
            if call >= mode.app_warmup:
                client_ms.append((time.perf_counter() - started) * 1000)
                server_ms.append(answer["milliseconds"])
        return {"round_trip_ms": evaluate.percentiles(client_ms), "server_predict_ms": evaluate.percentiles(server_ms)}

    process, url, start_seconds = start_app(models_dir, photo, workdir)
    try:
        client = Client(url, verbose=False)
        results: dict = {"photo": photo.name, "start_seconds": round(start_seconds, 1), "calls_per_model": mode.app_calls}
        for name in MODELS:
            results[name] = attempt(f"app /predict {name}", timed_calls, name)
        memory = memory_kb(process.pid)
        results["peak_rss_mb"] = round(memory["VmHWM"] / 1024, 1)
        results["rss_mb_after_calls"] = round(memory["VmRSS"] / 1024, 1)
        client.close()
        return results
    finally:
        stop(process)


# --- targets and the report ----------------------------------------------------------------------------------


def dig(tree: dict, *keys: str):
    for key in keys:
        if not isinstance(tree, dict) or key not in tree:
            return None
        tree = tree[key]
    return tree


def targets(results: dict, mode: Mode) -> list[dict]:
    indicative = "" if mode.name == "full" else f"{mode.name} mode: indicative only"
    scratch_base = dig(results, "training", "scratch", "baselines", "course_recipe", "test_accuracy")
    checks = [
        ("transfer p50 per photo <= 30 ms", dig(results, "speed", "transfer", "threads_default", "latency_ms", "p50"), 30, "ms", ""),
        ("scratch p50 per photo <= 10 ms", dig(results, "speed", "scratch", "threads_default", "latency_ms", "p50"), 10, "ms", ""),
        (
            "scratch test accuracy >= course recipe CNN + 15 points",
            dig(results, "training", "scratch", "ours", "test_accuracy"),
            None if scratch_base is None else round(scratch_base + 0.15, 4),
            "acc",
            indicative,
        ),
        ("transfer training (script wall time) <= 180 s", dig(results, "training", "transfer", "ours", "wall_seconds"), 180, "s", indicative),
        ("scratch training (script wall time) <= 1800 s", dig(results, "training", "scratch", "ours", "wall_seconds"), 1800, "s", indicative),
        (
            "transfer test accuracy >= frozen-linear baseline",
            dig(results, "training", "transfer", "ours", "test_accuracy"),
            dig(results, "training", "transfer", "baselines", "frozen_linear", "test_accuracy"),
            "acc",
            indicative,
        ),
    ]
    rows = []
    for name, value, limit, unit, note in checks:
        if value is None or limit is None:
            status = "SKIP"
        else:
            at_least = unit == "acc"
            status = "PASS" if (value >= limit if at_least else value <= limit) else "FAIL"
        rows.append({"target": name, "value": value, "limit": limit, "unit": unit, "status": status, "note": note or None})
    return rows


def fmt(value, unit: str = "") -> str:
    if value is None:
        return "-"
    if unit == "acc":
        return f"{value:.1%}"
    if unit == "x":
        return f"{value:.2f}x"
    return f"{value:g}{unit}" if isinstance(value, (int, float)) else str(value)


def table(title: str, headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """Aligned columns; a short row (a name and an error) runs on past the columns instead of widening them."""
    cells = [list(map(str, headers))] + [[str(cell) for cell in row] for row in rows]
    widths = [max(len(row[i]) for row in cells if len(row) == len(headers) or i == 0) for i in range(len(headers))]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip() for row in cells]
    lines.insert(1, "  ".join("-" * width for width in widths))
    return f"\n## {title}\n" + "\n".join(lines)


def accuracy_rows(shipped: dict) -> list[list]:
    rows = []
    for name, section in shipped.items():
        if "error" in section:
            rows.append([name, "", f"ERROR: {section['error']}"])
            continue
        for folder, result in section.items():
            if "error" in result:
                rows.append([name, folder, f"ERROR: {result['error']}"])
                continue
            skipped = ", ".join(f"{label} {count}" for label, count in result["skipped_classes"].items())
            rows.append([name, folder, result["n"], result["n_skipped"], fmt(result["accuracy"], "acc"), fmt(result["top3_accuracy"], "acc"), skipped])
    return rows


def per_class_table(shipped: dict) -> str:
    """Classes down, (model, photos) across: top-1 of each class the photos hold."""
    columns = {
        f"{name} {folder}": result["per_class_accuracy"]
        for name, section in shipped.items() if "error" not in section
        for folder, result in section.items() if "error" not in result
    }
    classes = list(dict.fromkeys(label for per_class in columns.values() for label in per_class))
    rows = [[label, *(fmt(per_class.get(label), "acc") for per_class in columns.values())] for label in classes]
    return table("Per-class top-1 of the shipped predictors", ["class", *columns], rows)


def training_rows(training: dict) -> list[list]:
    rows = []
    for name, section in training.items():
        baselines = section["baselines"]
        runs = {"ours": section["ours"]} | ({"baselines": baselines} if "error" in baselines else baselines)
        for label, result in runs.items():
            if "error" in result:
                rows.append([f"{name} {label}", f"ERROR: {result['error']}"])
                continue
            rows.append([
                f"{name} {label}", f"{result['epochs_run']}/{result['epochs_budget']}", result["image_size"],
                fmt(result["train_seconds"], " s"), fmt(result.get("wall_seconds"), " s"), fmt(result["seconds_per_epoch"], " s"),
                fmt(result["test_accuracy"], "acc"), fmt(result["top3_accuracy"], "acc"),
            ])
        for baseline, ratios in section.get("ratios", {}).items():
            rows.append([f"{name} ours/{baseline}", "", "", fmt(ratios["train_seconds"], "x"), "", "", fmt(ratios["test_accuracy"], "x"), ""])
    return rows


def speed_rows(speeds: dict) -> list[list]:
    rows = []
    for name, section in speeds.items():
        if "error" in section:
            rows.append([name, f"ERROR: {section['error']}"])
            continue
        for setting, result in (("this process", section["threads_default"]), ("forced to 1", section["threads_1"])):
            latency = result["latency_ms"]
            rows.append([name, f"{result['torch_threads']} ({setting})", fmt(latency["p50"], " ms"), fmt(latency["p95"], " ms"), fmt(result["images_per_second"])])
    return rows


def app_section(app: dict) -> str:
    title = "\n## App end to end via gradio_client /predict"
    if app.get("skipped"):
        return f"{title}\nskipped (--skip-app)"
    if "error" in app:
        return f"{title}\nERROR: {app['error']}"
    rows = [
        [name, f"ERROR: {app[name]['error']}"] if "error" in app[name] else
        [name, fmt(app[name]["round_trip_ms"]["p50"], " ms"), fmt(app[name]["round_trip_ms"]["p95"], " ms"), fmt(app[name]["server_predict_ms"]["p50"], " ms")]
        for name in MODELS
    ]
    return (
        table(f"App end to end via gradio_client /predict ({app['calls_per_model']} sequential calls per model after warm-up)",
              ["model", "p50", "p95", "server-side p50"], rows)
        + f"\napp start {app['start_seconds']} s; peak RSS (VmHWM) with both models loaded {app['peak_rss_mb']} MB"
    )


def target_rows(checks: list[dict]) -> list[list]:
    rows = []
    for check in checks:
        unit = "acc" if check["unit"] == "acc" else f" {check['unit']}"
        rows.append([check["status"], check["target"], fmt(check["value"], unit), fmt(check["limit"], unit), check["note"] or ""])
    return rows


def report(results: dict) -> str:
    machine = results["machine"]
    return "\n".join([
        f"# Landmark Lens benchmark ({results['mode']})",
        results["mode_note"],
        f"{machine['cpu_model']}, {machine['cpus_allowed']}/{machine['cpu_count']} CPUs, torch {machine['torch_version']} "
        f"with {machine['torch_threads']} threads, load average {machine['load_average_at_start']}, {machine['date']}",
        f"command: {machine['command']}",
        table("Accuracy of the shipped predictors (photos of classes a model does not know are skipped)",
              ["model", "photos", "n", "skipped", "top-1", "top-3", "skipped classes"], accuracy_rows(results["shipped_accuracy"])),
        per_class_table(results["shipped_accuracy"]),
        table("Our recipes vs the course's (trained in this run on the same data, epochs budget and image size)",
              ["recipe", "epochs", "size", "train s", "script wall", "s/epoch", "test top-1", "top-3"], training_rows(results["training"])),
        table(f"Speed of the shipped predictors (one JPEG: decode + preprocess + forward; batches of {BATCH} uint8 tensors)",
              ["model", "threads", "p50", "p95", f"img/s batch {BATCH}"], speed_rows(results["speed"])),
        app_section(results["app"]),
        table("Targets", ["status", "target", "measured", "limit", "note"], target_rows(results["targets"])),
        f"\nbenchmark took {results['seconds']:.0f} s; results in {results['out']}",
    ])


def errors(tree) -> list[str]:
    """Every {"error": ...} recorded anywhere in the results."""
    if isinstance(tree, dict):
        return ([tree["error"]] if "error" in tree else []) + [e for value in tree.values() for e in errors(value)]
    return []


# --- main ----------------------------------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    size = parser.add_mutually_exclusive_group()
    size.add_argument("--quick", action="store_true", help="fewer epochs: under 10 minutes on 2 idle cores")
    size.add_argument("--smoke", action="store_true", help="the smallest run (1 epoch, 32 px), for tests")
    parser.add_argument("--data-dir", type=Path, default=data.default_data_dir(), help="dataset root with train/ and test/ (default: %(default)s)")
    parser.add_argument("--udacity-dir", type=Path, default=UDACITY_SAMPLES_TEST, help="the official sample photos, <dir>/<NN.Class>/*.jpg (default: %(default)s)")
    parser.add_argument("--models", type=Path, default=REPO / "assets" / "models", help="the shipped scratch.pt/transfer.pt (default: %(default)s)")
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results.json", help="where the results go (default: %(default)s)")
    parser.add_argument("--skip-app", action="store_true", help="do not start the app for the end-to-end timing")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    mode = MODES["smoke" if args.smoke else "quick" if args.quick else "full"]
    started = time.perf_counter()
    runtime.configure_torch()  # the training scripts' threads; the speed section also times the app's one thread
    log(mode.note)
    results: dict = {"mode": mode.name, "mode_note": mode.note, "machine": machine_facts()}
    results["settings"] = {
        "data_dir": str(args.data_dir.resolve()),
        "udacity_dir": str(args.udacity_dir.resolve()),
        "models": str(args.models.resolve()),
        "scratch_script_args": list(mode.scratch_args),
        "transfer_script_args": list(mode.transfer_args),
        "transfer_baseline_epochs": mode.transfer_baseline_epochs,
    }
    test_dir = args.data_dir / "test"
    with tempfile.TemporaryDirectory(prefix="landmark-benchmark-") as temporary:
        workdir = Path(temporary)
        results["shipped_accuracy"] = shipped_accuracy(args.models, test_dir, args.udacity_dir)
        results["training"] = {
            "scratch": compare_recipes("scratch", args.data_dir, workdir, mode.scratch_args, scratch_baselines),
            "transfer": compare_recipes(
                "transfer", args.data_dir, workdir, mode.transfer_args, lambda ours: transfer_baselines(ours, mode.transfer_baseline_epochs)
            ),
        }
        results["speed"] = shipped_speed(args.models, test_dir, mode)
        if args.skip_app:
            results["app"] = {"skipped": True}
        else:
            photo = data.find_images(args.data_dir, "test").files[0]
            results["app"] = attempt("app end to end", app_round_trips, args.models, photo, workdir, mode)
    results["targets"] = targets(results, mode)
    results["seconds"] = round(time.perf_counter() - started, 1)
    results["out"] = str(args.out)
    write_json(args.out, results)
    print(report(results))
    return 1 if errors(results) else 0


if __name__ == "__main__":
    sys.exit(main())
