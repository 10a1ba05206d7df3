"""Process-wide torch settings, chosen once at start-up from the CPUs this process may use."""

from __future__ import annotations

import os
import warnings

import torch


def configure_torch() -> int:
    """Use every CPU we are allowed (containers often allow fewer than os.cpu_count()); return the count."""
    threads = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    torch.set_num_threads(threads)
    # The product contract is a TorchScript file; torch's deprecation notice for jit is noise to users.
    warnings.filterwarnings("ignore", category=FutureWarning, message=r".*torch\.jit.*")
    return threads
