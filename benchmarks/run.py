"""Landmark Lens benchmark: what the shipped models do on this machine, and what our recipes buy over the course's.

    python benchmarks/run.py [--quick | --smoke] [--only SECTION ...] [--skip-app] [--data-dir DIR]
                             [--udacity-dir DIR] [--negatives DIR] [--models DIR] [--out benchmarks/results.json]
                             [--workdir DIR]

Measures, on this machine and in this one run, one module per measurement:
  accuracy      (accuracy.py) the shipped predictors (<models>/scratch.pt, transfer.pt) on <data-dir>/test and on
                the official Udacity sample photos (only the classes a model knows; the others are counted as skipped);
  training      (training_cost.py, baselines.py) our two training recipes, run as the user runs them, against the
                course's recipes trained here on the same data, with the same epoch budget and image size: its plain
                3-block CNN trained its way, a frozen EfficientNet-Lite0 with a linear head trained through the
                backbone every epoch, and the course's CNN trained by our recipe (the architecture alone);
  speed         (speed.py) latency (one photo: decode + preprocess + forward) and batch-32 throughput of each
                shipped predictor, with this process's torch threads and with one thread;
  app           (app_latency.py) the app's end-to-end /predict time through gradio_client, and its peak memory;
  open_set      (open_set.py) the ways of rejecting photos of unknown landmarks, compared on the same photos:
                transfer heads in leave-landmarks-out folds over <negatives>, and post-hoc scorers on the shipped
                scratch model;
  tagging       (tagging.py) tag_photos.py's local engine in photos/s against the predictor's own batched
                throughput, the Ray engine on a local Ray instance, and the command's peak memory for a short and
                a long file list;
  teaching      (teaching.py) teaching the shipped transfer model a landmark: seconds for 10 and 50 photos, and
                each known landmark taught back into a head that never saw it, from a few of its training photos;
then prints a table per measurement (report.py) and PASS/FAIL lines for the product's targets (targets.py), and
writes everything to --out as JSON.

Modes: the default runs the full recipes (about an hour on 2 idle cores); --quick trims the epochs and views
(its training-time and accuracy comparisons are indicative only); --smoke is the smallest run, for tests.
--only runs some sections (the others are recorded as skipped). Progress goes to stderr, the report to stdout.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Sequence

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # before gradio_client is imported, here or in the app

from benchmarks.accuracy import shipped_accuracy  # noqa: E402
from benchmarks.app_latency import app_round_trips  # noqa: E402
from benchmarks.machine import machine_facts  # noqa: E402
from benchmarks.modes import MODES  # noqa: E402
from benchmarks.open_set import open_set  # noqa: E402
from benchmarks.measuring import attempt, errors, log  # noqa: E402
from benchmarks.report import report  # noqa: E402
from benchmarks.speed import shipped_speed  # noqa: E402
from benchmarks.tagging import tagging_speed  # noqa: E402
from benchmarks.targets import targets  # noqa: E402
from benchmarks.teaching import teaching_benchmark  # noqa: E402
from benchmarks.training_cost import training_cost  # noqa: E402
from landmark_core import data, runtime  # noqa: E402
from landmark_core.cli import GCOMPRIS_DIR  # noqa: E402
from landmark_core.files import write_json  # noqa: E402
from landmark_core.model_files import DEFAULT_MODEL_DIR  # noqa: E402
from landmark_core.negatives import OTHER_LANDMARKS_DIR  # noqa: E402
from landmark_core.samples import UDACITY_SAMPLES_TEST  # noqa: E402

# --only's section names -> their key in the results.
SECTIONS = {
    "accuracy": "shipped_accuracy", "training": "training", "speed": "speed", "app": "app", "open_set": "open_set", "tagging": "tagging",
    "teaching": "teaching",
}


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    size = parser.add_mutually_exclusive_group()
    size.add_argument("--quick", action="store_true", help="fewer epochs and views: a few minutes on 2 idle cores")
    size.add_argument("--smoke", action="store_true", help="the smallest run (1 epoch, 32 px), for tests")
    parser.add_argument("--only", nargs="+", choices=sorted(SECTIONS), help="run only these sections (default: all)")
    parser.add_argument("--skip-app", action="store_true", help="do not start the app for the end-to-end timing")
    parser.add_argument("--data-dir", type=Path, default=data.default_data_dir(), help="dataset root with train/ and test/ (default: %(default)s)")
    parser.add_argument("--udacity-dir", type=Path, default=UDACITY_SAMPLES_TEST, help="the official sample photos, <dir>/<NN.Class>/*.jpg (default: %(default)s)")
    parser.add_argument(
        "--negatives", type=Path, default=OTHER_LANDMARKS_DIR,
        help="photos of other landmarks, <dir>/<landmark>/*.jpg: our recipes train on them as the scripts do, and the "
        "open-set comparison holds them out by landmark (default: %(default)s)",
    )
    parser.add_argument(
        "--gcompris", type=Path, default=REPO / GCOMPRIS_DIR,
        help="the GCompris photos both recipes also train on, as the training scripts' --gcompris ('' for none; default: %(default)s)",
    )
    parser.add_argument("--models", type=Path, default=DEFAULT_MODEL_DIR, help="the shipped scratch.pt/transfer.pt (default: %(default)s)")
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results.json", help="where the results go (default: %(default)s)")
    parser.add_argument(
        "--workdir", type=Path, default=None,
        help="keep the run's trained files and cached features here, for a later run to reuse (default: a temporary folder)",
    )
    return parser.parse_args(argv)


def skipped(section: str, args: argparse.Namespace) -> dict:
    return {"skipped": "--skip-app" if section == "app" and args.skip_app else f"not selected (--only {' '.join(args.only)})"}


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    mode = MODES["smoke" if args.smoke else "quick" if args.quick else "full"]
    selected = set(args.only or SECTIONS) - ({"app"} if args.skip_app else set())
    started = time.perf_counter()
    runtime.configure_torch()  # the training scripts' threads; the speed section also times the app's one thread
    log(mode.note)
    results: dict = {"mode": mode.name, "mode_note": mode.note, "machine": machine_facts()}
    results["settings"] = {
        "data_dir": str(args.data_dir.resolve()),
        "udacity_dir": str(args.udacity_dir.resolve()),
        "negatives": str(args.negatives.resolve()),
        "gcompris": str(args.gcompris),
        "models": str(args.models.resolve()),
        "sections": [section for section in SECTIONS if section in selected],
        "scratch_script_args": list(mode.scratch_args),
        "transfer_script_args": list(mode.transfer_args),
        "transfer_baseline_epochs": mode.transfer_baseline_epochs,
    }
    test_dir = args.data_dir / "test"
    workdir_context = contextlib.nullcontext(str(args.workdir)) if args.workdir else tempfile.TemporaryDirectory(prefix="landmark-benchmark-")
    with workdir_context as workdir_name:
        workdir = Path(workdir_name)
        workdir.mkdir(parents=True, exist_ok=True)
        measurements = {
            "accuracy": lambda: shipped_accuracy(args.models, test_dir, args.udacity_dir),
            "training": lambda: training_cost(args.data_dir, args.negatives, args.gcompris, workdir, mode),
            "speed": lambda: shipped_speed(args.models, test_dir, mode),
            "app": lambda: attempt(
                "app end to end", app_round_trips, args.models, data.find_images(args.data_dir, "test").files[0], workdir, mode
            ),
            "open_set": lambda: open_set(args.models, args.data_dir, args.negatives, args.udacity_dir, workdir, mode),
            "tagging": lambda: attempt("tagging a photo library", tagging_speed, args.models, test_dir, workdir, mode),
            "teaching": lambda: attempt("teaching a landmark", teaching_benchmark, args.models, args.data_dir, args.negatives, mode),
        }
        for section, measure in measurements.items():
            results[SECTIONS[section]] = measure() if section in selected else skipped(section, args)
    results["targets"] = targets(results, mode)
    results["seconds"] = round(time.perf_counter() - started, 1)
    results["out"] = str(args.out)
    write_json(args.out, results)
    print(report(results))
    return 1 if errors(results) else 0


if __name__ == "__main__":
    sys.exit(main())
