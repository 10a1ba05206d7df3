"""How much of each measurement a run does: the full recipes, a quick look, or the smallest run for tests."""

from __future__ import annotations

from dataclasses import dataclass


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
    open_set_views: int  # augmented views per training photo for the transfer open-set heads (train_transfer.py: 3)
    open_set_image_size: int  # the transfer open-set crop (train_transfer.py: Lite1's 240)
    open_set_epochs: int  # the transfer open-set heads' epochs (optim.transfer_head_config: 30)
    tagging_photos: int  # files in the list the tagging engines are timed on
    tagging_rss_files: tuple[int, int]  # the short and the long list whose peak memory is compared
    tagging_ray: bool  # time the Ray engine too (a local Ray instance takes ~10 s to start)
    teach_photos: tuple[int, ...]  # photos per landmark taught back in the leave-landmark-out curve


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
        open_set_views=3,
        open_set_image_size=240,
        open_set_epochs=30,
        tagging_photos=960,
        tagging_rss_files=(500, 10_000),
        tagging_ray=True,
        teach_photos=(5, 10, 20),
    ),
    "quick": Mode(
        "quick",
        "quick mode: scratch recipe and both course CNN runs 3 epochs each; transfer recipe with --views 1 (default epochs, "
        "its epochs train the last convolution and the head on cached maps in a few seconds each), frozen-linear baseline 2 epochs; transfer open-set "
        "heads on 1 augmented view; tagging's memory over 250 and 2,500 files. Training-time and accuracy comparisons "
        "are indicative only.",
        scratch_args=("--epochs", "3"),
        transfer_args=("--views", "1"),
        transfer_baseline_epochs=2,
        latency_repeats=30,
        throughput_batches=5,
        app_calls=20,
        app_warmup=3,
        open_set_views=1,
        open_set_image_size=240,
        open_set_epochs=30,
        tagging_photos=320,
        tagging_rss_files=(250, 2_500),
        tagging_ray=True,
        teach_photos=(10,),
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
        open_set_views=1,
        open_set_image_size=32,
        open_set_epochs=1,
        tagging_photos=2 * 32,
        tagging_rss_files=(8, 24),
        tagging_ray=False,
        teach_photos=(5,),
    ),
}
