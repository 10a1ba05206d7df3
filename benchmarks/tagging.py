"""Tagging a photo library (tag_photos.py's engines) against the predictor's own batched throughput, in this run.

    local       photos/s of the local engine (its default DataLoader worker processes decode, this process predicts
                in batches of 32), reading the test photos through a file list that repeats them; its ratio to the predictor's
                own batch-32 throughput on ready tensors (speed.py), measured just before and just after it
    ray         photos/s of the Ray engine on a local Ray instance (actors of one CPU), and how long Ray took to start
    memory      peak RSS of `python tag_photos.py LIST` for a short and a long file list: streaming keeps it flat
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import time
from pathlib import Path

from benchmarks import REPO
from benchmarks.measuring import attempt, log
from benchmarks.modes import Mode
from benchmarks.speed import BATCH, throughput, uniform_batch
from landmark_core import data, model_files, runtime, tagging

MODEL = "transfer"


def repeated_list(photos: list[Path], count: int, path: Path) -> Path:
    """A file list of `count` entries cycling through `photos`: a big library without copying a photo."""
    path.write_text("".join(f"{photos[index % len(photos)].resolve()}\n" for index in range(count)), encoding="utf-8")
    return path


def rate(model: model_files.LoadedModel, listing: Path, out: Path, engine: tagging.Engine, workers: int) -> dict:
    """Photos/s of one engine over the file list, into a fresh tags file (the model already loaded and warm)."""
    out.unlink(missing_ok=True)
    job = tagging.Tagging(model, tagging.list_photos(listing), out)
    started = time.perf_counter()
    count = sum(1 for _ in job.rows(engine, BATCH, workers))
    seconds = time.perf_counter() - started
    return {"photos": count, "seconds": round(seconds, 2), "photos_per_second": round(count / seconds, 1), "workers": workers}


def ray_rate(model: model_files.LoadedModel, listing: Path, out: Path, workers: int) -> dict:
    import ray

    from landmark_core import ray_engine

    started = time.perf_counter()
    ray_engine.connect()
    try:
        return {"ray_start_seconds": round(time.perf_counter() - started, 1), **rate(model, listing, out, ray_engine.tag_ray, workers)}
    finally:
        ray.shutdown()


def tagging_speed(models_dir: Path, test_dir: Path, workdir: Path, mode: Mode) -> dict:
    files = data.find_images(test_dir.parent, test_dir.name).files
    model = model_files.load_model_file(models_dir / f"{MODEL}.pt")
    listing = repeated_list(files, mode.tagging_photos, workdir / "tagging_photos.txt")
    ready = uniform_batch(files, int(model.predictor.resize_size))
    # Warm the predictor on both inputs it will see: TorchScript optimises for each on its first calls.
    rate(model, repeated_list(files, 2 * BATCH, workdir / "tagging_warm_up.txt"), workdir / "warm_up.csv", tagging.tag_local, 0)
    before = throughput(model.predictor, ready, mode.throughput_batches)
    local = rate(model, listing, workdir / "local.csv", tagging.tag_local, tagging.default_workers())
    after = throughput(model.predictor, ready, mode.throughput_batches)
    predictor = round((before + after) / 2, 1)
    results = {
        "model": MODEL,
        "photos": f"{len(files)} test photos repeated to {mode.tagging_photos} through a file list",
        "batch_size": BATCH,
        "predictor": {"images_per_second": predictor, "before": before, "after": after, "input": f"uint8 {tuple(ready.shape)}"},
        "local": {**local, "ratio_to_predictor": round(local["photos_per_second"] / predictor, 3)},
    }
    if not mode.tagging_ray:
        results["ray"] = {"skipped": f"{mode.name} mode"}
    elif importlib.util.find_spec("ray") is None:
        results["ray"] = {"skipped": "ray is not installed (pip install -r requirements-scale.txt)"}
    else:
        results["ray"] = attempt("tagging: Ray engine", ray_rate, model, listing, workdir / "ray.csv", runtime.allowed_cpus())
    results["memory"] = attempt("tagging: peak memory", memory, files, models_dir, workdir, mode)
    return results


# tag_photos.py run as a script in a fresh interpreter that then prints its own peak RSS (VmHWM, kB). Not wait4's
# figure: Linux carries the parent's peak across fork and exec into the child's, so it would read this process's.
PEAK_RSS_OF_THE_COMMAND = (
    "import runpy, sys; sys.argv = ['tag_photos.py', *sys.argv[1:]]; runpy.run_path('tag_photos.py', run_name='__main__'); "
    "print(open('/proc/self/status').read().split('VmHWM:')[1].split()[0])"
)


def memory(files: list[Path], models_dir: Path, workdir: Path, mode: Mode) -> dict:
    """Peak RSS of `python tag_photos.py LIST` (the command's own process, which holds the model; its decoding
    workers are not counted) for the short and the long list, and their ratio."""
    runs = {}
    for count in mode.tagging_rss_files:
        log(f"tagging: peak memory of tag_photos.py over {count} files")
        listing = repeated_list(files, count, workdir / f"tagging_{count}.txt")
        out = workdir / f"rss_{count}.csv"
        out.unlink(missing_ok=True)
        command = [sys.executable, "-c", PEAK_RSS_OF_THE_COMMAND, str(listing), "--out", str(out), "--model", str(models_dir / f"{MODEL}.pt")]
        started = time.perf_counter()
        done = subprocess.run(command, cwd=REPO, capture_output=True, text=True, env=dict(os.environ, PYTHONPATH=str(REPO)))
        if done.returncode:
            raise RuntimeError(f"tag_photos.py over {count} files failed: {done.stderr[-500:]}")
        peak_kb = int(done.stdout.split()[-1])
        runs[str(count)] = {"peak_rss_mb": round(peak_kb / 1024, 1), "seconds": round(time.perf_counter() - started, 1)}
    small, large = (runs[str(count)]["peak_rss_mb"] for count in mode.tagging_rss_files)
    return {"runs": runs, "ratio_long_to_short": round(large / small, 3)}
