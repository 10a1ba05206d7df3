"""The Landmark Lens benchmark (`python benchmarks/run.py`): one module per measurement, run.py runs them all."""

from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
