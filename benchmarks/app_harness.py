"""`python app.py` as its users run it, in a subprocess on a free loopback port: started, waited for, measured,
stopped. One harness for the tests that talk to the app over HTTP (tests/app_server.py) and for the
benchmark's end-to-end timing (benchmarks/app_latency.py); SpaceProcess starts a Space bundle's app the way a
Space does (tests/test_deploy_space.py).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from benchmarks import REPO

HOST = "127.0.0.1"
# Variables a Hugging Face Space or a Gradio deployment sets; they would move the app off our loopback port.
DEPLOYMENT_VARIABLES = ("SPACE_ID", "GRADIO_SERVER_NAME", "GRADIO_SERVER_PORT")
SPACE_ID = "local/landmark-lens"  # what SpaceProcess's app sees as its Space


class AppStartError(RuntimeError):
    """app.py exited, or did not answer in time; the message ends with the tail of its log."""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return probe.getsockname()[1]


def script_env() -> dict[str, str]:
    """The environment for this repo's scripts run as subprocesses: importable from any working directory,
    output unbuffered (progress arrives as it happens), no Gradio analytics calls."""
    return dict(os.environ, PYTHONPATH=str(REPO), PYTHONUNBUFFERED="1", GRADIO_ANALYTICS_ENABLED="False")


class AppProcess:
    """`python app.py --models MODELS [--samples SAMPLES]`, returned once its page answers; without samples the
    app picks its default gallery. `threads` sets the app's OMP_NUM_THREADS (None: whatever this process has,
    unset included)."""

    def __init__(self, models: Path, log: Path, samples: Path | None = None, threads: int | None = 1, start_timeout: float = 60):
        self.port = free_port()
        self.models = models
        command = [sys.executable, "app.py", "--host", HOST, "--port", str(self.port), "--models", str(models)]
        if samples is not None:
            command += ["--samples", str(samples)]
        env = {key: value for key, value in script_env().items() if key not in DEPLOYMENT_VARIABLES}
        if threads is not None:
            env["OMP_NUM_THREADS"] = str(threads)
        self.start(command, REPO, env, log, start_timeout)

    def start(self, command: list[str], cwd: Path, env: dict[str, str], log: Path, start_timeout: float) -> None:
        """Run `command` (an app.py serving on self.port) in `cwd`, its output in `log`; return once its page answers,
        with `start_seconds` set to how long that took."""
        self.url = f"http://{HOST}:{self.port}/"
        self.log = log
        started = time.perf_counter()
        with log.open("w") as log_file:  # the child keeps its own handle
            self.process = subprocess.Popen(command, cwd=cwd, env=env, stdout=log_file, stderr=subprocess.STDOUT)
        while time.perf_counter() - started < start_timeout:
            if self.process.poll() is not None:
                raise AppStartError(f"app.py exited with {self.process.returncode}:\n{self.log_tail()}")
            try:
                if httpx.get(self.url, timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        else:
            self.stop()
            raise AppStartError(f"app.py did not answer within {start_timeout:g} s:\n{self.log_tail()}")
        self.start_seconds = time.perf_counter() - started

    def log_tail(self, characters: int = 4000) -> str:
        return self.log.read_text(errors="replace")[-characters:]

    def memory_kb(self) -> dict[str, int]:
        """The app's VmHWM (peak resident set) and VmRSS in kB, from /proc (Linux)."""
        values = {}
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            key, _, rest = line.partition(":")
            if key in ("VmHWM", "VmRSS"):
                values[key] = int(rest.split()[0])
        return values

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


class SpaceProcess(AppProcess):
    """A Space bundle's app started as a Space starts it: `python app.py` with no flags, from the bundle's own folder,
    by `python` of an environment made from the bundle's requirements, with the variables a Space sets and nothing of
    this repository importable. It listens on 0.0.0.0, as on a Space; the harness talks to it over loopback."""

    def __init__(self, bundle: Path, python: Path, log: Path, start_timeout: float = 60):
        self.port = free_port()
        self.models = bundle / "assets" / "models"
        # OMP_NUM_THREADS too: a Space sets none, so the app's own thread choice is what runs there. SYSTEM=spaces
        # stays unset: with it gradio also starts the Space's hot-reload watcher, which needs the `spaces` package
        # that only a Space's own image has.
        inherited = {key: value for key, value in os.environ.items() if key not in (*DEPLOYMENT_VARIABLES, "SYSTEM", "PYTHONPATH", "OMP_NUM_THREADS")}
        env = dict(inherited, SPACE_ID=SPACE_ID, GRADIO_SERVER_PORT=str(self.port), PYTHONUNBUFFERED="1", GRADIO_ANALYTICS_ENABLED="False")
        self.start([str(python), "app.py"], bundle, env, log, start_timeout)
