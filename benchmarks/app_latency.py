"""The app end to end: `python app.py` started as users start it (benchmarks/app_harness.py), sequential
/predict calls per model through gradio_client after a warm-up, then the app's peak memory."""

from __future__ import annotations

import time
from pathlib import Path

from tqdm import tqdm

from benchmarks.app_harness import AppProcess
from benchmarks.modes import Mode
from benchmarks.measuring import attempt
from benchmarks.shipped import MODELS
from landmark_core import evaluate

START_TIMEOUT_S = 120


def one_photo_gallery(photo: Path, workdir: Path) -> Path:
    """A sample gallery holding only `photo`, so the app's start does not depend on which samples exist."""
    samples = workdir / "app_samples" / "16.Eiffel_Tower"
    samples.mkdir(parents=True, exist_ok=True)
    (samples / photo.name).write_bytes(photo.read_bytes())
    return samples.parent


def app_round_trips(models_dir: Path, photo: Path, workdir: Path, mode: Mode) -> dict:
    """Sequential /predict calls per model through gradio_client after warm-up; then the app's peak memory.

    The app keeps its own thread settings (one torch thread per prediction unless OMP_NUM_THREADS says otherwise).
    """
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

    app = AppProcess(models_dir, workdir / "app.log", one_photo_gallery(photo, workdir), threads=None, start_timeout=START_TIMEOUT_S)
    try:
        client = Client(app.url, verbose=False)
        results: dict = {"photo": photo.name, "start_seconds": round(app.start_seconds, 1), "calls_per_model": mode.app_calls}
        for name in MODELS:
            results[name] = attempt(f"app /predict {name}", timed_calls, name)
        memory = app.memory_kb()
        results["peak_rss_mb"] = round(memory["VmHWM"] / 1024, 1)
        results["rss_mb_after_calls"] = round(memory["VmRSS"] / 1024, 1)
        client.close()
        return results
    finally:
        app.stop()
