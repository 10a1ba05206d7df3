import json
import re
import signal
import subprocess
import time
from dataclasses import asdict, replace

import pytest
import torch
from torch.utils.data import TensorDataset

from conftest import PYTHON, make_image_folders, subprocess_env
from landmark_core.optim import PLATEAU, FitConfig
from landmark_core.training import HISTORY, LAST_CHECKPOINT, fit


def blobs(n: int, seed: int) -> TensorDataset:
    """Two separable Gaussian blobs: a model that learns at all gets them right."""
    generator = torch.Generator().manual_seed(seed)
    labels = torch.arange(n) % 2
    points = torch.randn(n, 4, generator=generator) + 3 * labels[:, None].float()
    return TensorDataset(points, labels)


def linear_model() -> torch.nn.Module:
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Dropout(0.1), torch.nn.Linear(8, 2))


CONFIG = FitConfig(epochs=6, batch_size=16, lr=0.05, weight_decay=0.0, patience=10, seed=3)


def test_fit_learns_and_records_every_epoch(tmp_path):
    history = fit(linear_model(), blobs(128, 0), blobs(64, 1), tmp_path, CONFIG)
    assert [r.epoch for r in history] == list(range(1, 7))
    assert history[-1].valid_accuracy > 0.9
    assert len(json.loads((tmp_path / HISTORY).read_text())) == 6


class AutocastProbe(torch.nn.Module):
    """Wraps a model and records the dtype its first layer computes in."""

    def __init__(self, model: torch.nn.Module):
        super().__init__()
        self.model, self.dtypes = model, set()

    def forward(self, x):
        self.dtypes.add(self.model[0](x).dtype)
        return self.model(x)


def test_bfloat16_fit_computes_in_bfloat16_and_trains_like_float32(tmp_path):
    """Each step runs in bfloat16 on the weights the last step left (an autocast region around the whole epoch
    would reuse its first weights' bfloat16 copies), so the losses follow float32's; the weights stay float32."""
    probe = AutocastProbe(linear_model())
    in_bfloat16 = fit(probe, blobs(128, 0), blobs(64, 1), tmp_path / "bfloat16", replace(CONFIG, bfloat16=True))
    in_float32 = fit(linear_model(), blobs(128, 0), blobs(64, 1), tmp_path / "float32", CONFIG)
    assert probe.dtypes == {torch.bfloat16}
    assert {parameter.dtype for parameter in probe.parameters()} == {torch.float32}
    for low, full in zip(in_bfloat16, in_float32):
        assert low.train_loss == pytest.approx(full.train_loss, rel=0.03)
    assert in_bfloat16[-1].valid_accuracy > 0.9


class CountedReads(TensorDataset):
    """Counts the items training reads; with `crash_after`, dies part-way like a process killed mid-epoch."""

    def __init__(self, dataset: TensorDataset, crash_after: int | None = None):
        super().__init__(*dataset.tensors)
        self.reads, self.crash_after = 0, crash_after

    def __getitem__(self, index):
        self.reads += 1
        if self.crash_after is not None and self.reads > self.crash_after:
            raise RuntimeError("killed")
        return super().__getitem__(index)


def test_resumed_run_trains_only_the_remaining_epochs_and_repeats_the_uninterrupted_one(tmp_path):
    full = fit(linear_model(), blobs(128, 0), blobs(64, 1), tmp_path / "full", CONFIG)
    with pytest.raises(RuntimeError, match="killed"):
        fit(linear_model(), CountedReads(blobs(128, 0), crash_after=128 * 2 + 50), blobs(64, 1), tmp_path / "cut", CONFIG)
    done_before = json.loads((tmp_path / "cut" / HISTORY).read_text())
    assert [record["epoch"] for record in done_before] == [1, 2]
    train = CountedReads(blobs(128, 0))
    resumed = fit(linear_model(), train, blobs(64, 1), tmp_path / "cut", CONFIG, resume=True)
    # Epochs 3-6 read the 128 training items once each; the first two come from the checkpoint, timings and all.
    assert train.reads == (CONFIG.epochs - 2) * 128
    assert [asdict(record) for record in resumed[:2]] == done_before
    assert [record.epoch for record in resumed] == [record.epoch for record in full]
    for uninterrupted, continued in zip(full, resumed):
        assert continued.train_loss == pytest.approx(uninterrupted.train_loss, rel=1e-5)
        assert continued.valid_loss == pytest.approx(uninterrupted.valid_loss, rel=1e-5)


def test_plateau_schedule_halves_the_lr_when_validation_stalls(tmp_path):
    """The course's recipe (SGD, lr halved after 2 epochs without a better validation loss) also learns, and its
    lr only ever stays or halves from one epoch to the next."""
    torch.manual_seed(0)
    valid_noise = TensorDataset(torch.randn(64, 4), torch.randint(0, 2, (64,)))
    config = FitConfig(epochs=12, batch_size=16, lr=0.05, weight_decay=0.0, patience=12, seed=0, schedule=PLATEAU, momentum=0.5)
    stalled = fit(linear_model(), blobs(128, 0), valid_noise, tmp_path / "stalled", config)
    lrs = [record.lr for record in stalled]
    assert lrs[0] == 0.05 and lrs[-1] < 0.05
    assert all(later in (earlier, earlier / 2) for earlier, later in zip(lrs, lrs[1:]))
    learned = fit(linear_model(), blobs(128, 0), blobs(64, 1), tmp_path / "learned", config)
    assert learned[-1].valid_accuracy > 0.9


def test_unknown_schedule_is_refused(tmp_path):
    with pytest.raises(ValueError, match="unknown schedule 'cosine'"):
        fit(linear_model(), blobs(32, 0), blobs(16, 1), tmp_path, FitConfig(epochs=1, schedule="cosine"))


def test_early_stopping_when_validation_stops_improving(tmp_path):
    torch.manual_seed(0)
    train_noise = TensorDataset(torch.randn(64, 4), torch.randint(0, 2, (64,)))
    valid_noise = TensorDataset(torch.randn(64, 4), torch.randint(0, 2, (64,)))
    config = FitConfig(epochs=30, batch_size=16, lr=0.05, weight_decay=0.0, patience=2, seed=0)
    history = fit(linear_model(), train_noise, valid_noise, tmp_path, config)
    assert len(history) < 30


def test_training_killed_mid_epoch_resumes_to_full_history(tmp_path):
    """SIGKILL during training, then --resume: the run finishes with every epoch recorded once."""
    dataset = make_image_folders(tmp_path / "data", classes=3, train_per_class=40, test_per_class=3)
    run_dir = tmp_path / "run"
    command = [
        PYTHON, "train_scratch.py", "--data-dir", str(dataset), "--epochs", "4", "--batch-size", "8",
        "--image-size", "48", "--run-dir", str(run_dir), "--out", str(tmp_path / "out"),
        # resume is under test, not "none of these": the synthetic photos only
        "--negatives", str(tmp_path / "none"), "--gcompris", "",
    ]
    repo = subprocess_env()["PYTHONPATH"]
    process = subprocess.Popen(command, cwd=repo, env=subprocess_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while not (run_dir / HISTORY).exists() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait()
    epochs_before = len(json.loads((run_dir / HISTORY).read_text()))
    assert epochs_before < 4, "the kill came too late to interrupt training"
    done = subprocess.run(command + ["--resume"], cwd=repo, env=subprocess_env(), capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    output = done.stdout + done.stderr
    assert f"Resuming from {run_dir / LAST_CHECKPOINT} after epoch {epochs_before}" in output
    # fit logs one line per epoch it trains: the resumed run trains the remaining ones, and only those.
    trained = [int(epoch) for epoch in re.findall(r"^epoch +(\d+) +train loss", output, re.MULTILINE)]
    assert trained == list(range(epochs_before + 1, 5))
    history = json.loads((run_dir / HISTORY).read_text())
    assert [r["epoch"] for r in history] == [1, 2, 3, 4]
    assert (tmp_path / "out" / "scratch.pt").is_file()
