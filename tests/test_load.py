"""Load: 20 gradio_client clients at once, 10 photos each, against `python app.py` on loopback, alternating
the two models (the shipped ones where present). No request may fail; the figures go to
artifacts/load_test.json and the test's output.

The app runs with this process's OMP_NUM_THREADS (unset: as deployed, one thread per prediction and one
prediction per core), so run it as
`python -m pytest -m slow tests/test_load.py` for figures that mean something.
"""

from __future__ import annotations

import json
import os
import time
from concurrent.futures import ThreadPoolExecutor, wait
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pytest

from app_server import is_shipped, start_app
from conftest import EIFFEL_SAMPLE, REPO, synthetic_photo
from landmark_core import model_files

pytestmark = pytest.mark.slow

CLIENTS = 20
REQUESTS_PER_CLIENT = 10
OVERALL_TIMEOUT_S = 300
REQUEST_TIMEOUT_S = 120  # a request may wait behind the 19 others' in the queue
REPORT = REPO / "artifacts" / "load_test.json"


@pytest.fixture(scope="module")
def app(tmp_path_factory, app_models):
    server = start_app(tmp_path_factory, app_models, threads=None)
    yield server
    server.stop()


@pytest.fixture(scope="module")
def photo(tmp_path_factory) -> Path:
    if EIFFEL_SAMPLE is not None:
        return EIFFEL_SAMPLE
    path = tmp_path_factory.mktemp("load") / "photo.jpg"
    synthetic_photo(0, seed=1, size=(640, 480)).save(path, quality=90)
    return path


def one_client(app, photo: Path, number: int) -> tuple[list[float], list[str]]:
    """REQUESTS_PER_CLIENT predictions from one client of its own, alternating models; (latencies s, errors)."""
    latencies, errors = [], []
    client = app.new_client()
    for request in range(REQUESTS_PER_CLIENT):
        model = model_files.MODEL_NAMES[(number + request) % len(model_files.MODEL_NAMES)]
        started = time.perf_counter()
        try:
            answer = app.predict(photo, model, 3, client=client, timeout=REQUEST_TIMEOUT_S)
            if answer.get("model") != model or not answer.get("top"):
                raise AssertionError(f"unexpected answer {answer!r}")
        except Exception as error:  # every failure is counted, whatever it is
            errors.append(f"client {number} request {request} ({model}): {type(error).__name__}: {error}")
        else:
            latencies.append(time.perf_counter() - started)
    return latencies, errors


def test_twenty_concurrent_clients_get_every_answer(app, photo):
    app.predict(photo, "scratch", 1)  # warm: the first answers pay for TorchScript's optimisation
    app.predict(photo, "transfer", 1)
    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=CLIENTS) as pool:
        futures = [pool.submit(one_client, app, photo, number) for number in range(CLIENTS)]
        done, not_done = wait(futures, timeout=OVERALL_TIMEOUT_S)
        assert not not_done, f"{len(not_done)} clients still busy after {OVERALL_TIMEOUT_S} s"
    wall = time.perf_counter() - started
    latencies = [seconds for future in done for seconds in future.result()[0]]
    errors = [error for future in done for error in future.result()[1]]

    milliseconds = np.array(latencies) * 1000
    report = {
        "clients": CLIENTS,
        "requests_per_client": REQUESTS_PER_CLIENT,
        "requests": CLIENTS * REQUESTS_PER_CLIENT,
        "errors": len(errors),
        "p50_ms": round(float(np.percentile(milliseconds, 50)), 1) if latencies else None,
        "p95_ms": round(float(np.percentile(milliseconds, 95)), 1) if latencies else None,
        "max_ms": round(float(milliseconds.max()), 1) if latencies else None,
        "requests_per_second": round(len(latencies) / wall, 2),
        "wall_seconds": round(wall, 2),
        "models": {name: "shipped" if is_shipped(name) else "fixture" for name in model_files.MODEL_NAMES},
        "photo": photo.name,
        "app_omp_num_threads": os.environ.get("OMP_NUM_THREADS", "unset"),
        "cpus": len(os.sched_getaffinity(0)),
        "measured": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    REPORT.parent.mkdir(parents=True, exist_ok=True)
    REPORT.write_text(json.dumps(report, indent=2) + "\n")
    print("\nload test:", json.dumps(report))
    assert errors == [], "\n".join(errors[:10])
    assert len(latencies) == CLIENTS * REQUESTS_PER_CLIENT
