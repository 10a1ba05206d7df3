"""How a measurement runs: progress lines on stderr (stdout keeps only the report), and a failure recorded as
{"error": ...} in the results instead of ending the run."""

from __future__ import annotations

import sys
import time
import traceback
from typing import Callable

from tqdm import tqdm


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


def errors(tree) -> list[str]:
    """Every {"error": ...} recorded anywhere in the results."""
    if isinstance(tree, dict):
        return ([tree["error"]] if "error" in tree else []) + [e for value in tree.values() for e in errors(value)]
    return []
