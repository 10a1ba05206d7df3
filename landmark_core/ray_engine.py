"""The Ray engine: the same tagging as `tagging.tag_local`, as a Ray Data pipeline, so it scales past one machine.

    photo list -> ray.data.from_items -> map_batches(Tagger, a pool of actors) -> rows, in order, to the driver

Each actor loads the TorchScript predictor once (sent through Ray's object store, so the nodes need no model
file; landmark_core travels with the job) and runs `tagging.decode` and `tagging.rows_for_batch` on its batches:
the rows are the local engine's. The driver writes them (and any GPS copies), so the tags file and OUT_DIR live
where the command runs; the photos must be readable at the same paths on every node (a shared mount). With
RAY_ADDRESS set, `ray.init` joins that cluster; without, it starts Ray on this machine. Ray is imported only here,
when this engine runs: the app and the local engine never need it (requirements-scale.txt).
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np
import torch

from landmark_core import tagging
from landmark_core.model_files import LoadedModel
from landmark_core.tagging import Photo
from landmark_core.tags import TagRow


class Tagger:
    """A Ray actor: loads the predictor once (`predictor`: a reference to its TorchScript bytes), then tags batches of {"index", "path", "file", "bytes", "mtime_ns"}."""

    def __init__(self, predictor, name: str, card: dict, threads: int):
        import ray  # in the actor's process, which Ray started

        torch.set_num_threads(threads)
        scripted = torch.jit.load(io.BytesIO(ray.get(predictor)), map_location="cpu").eval()
        self.model = LoadedModel(name, scripted, card)

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        photos = [
            Photo(Path(path), file, None if size < 0 else int(size), None if mtime < 0 else int(mtime))
            for path, file, size, mtime in zip(batch["path"], batch["file"], batch["bytes"], batch["mtime_ns"])
        ]
        resize_size, crop_size = int(self.model.predictor.resize_size), int(self.model.predictor.crop_size)
        decoded = tagging.collate([tagging.decode(i, photo, resize_size, crop_size) for i, photo in enumerate(photos)])
        rows = tagging.rows_for_batch(self.model, photos, decoded)
        # Rows travel as JSON text: Arrow would have to guess a type for columns that are all None in a batch.
        return {"index": batch["index"], "row": np.array([json.dumps(row.to_json()) for row in rows], dtype=object)}


def _predictor_bytes(model: LoadedModel) -> bytes:
    buffer = io.BytesIO()
    torch.jit.save(model.predictor, buffer)
    return buffer.getvalue()


def connect() -> None:
    """Join the cluster at RAY_ADDRESS (ray.init reads it), or start Ray on this machine; once per process.

    The landmark_core package travels with the job (`py_modules`), so a cluster's nodes need only the packages of
    requirements-scale.txt, not this repository.
    """
    import ray  # lazily: only this engine needs Ray

    if not ray.is_initialized():
        package = Path(tagging.__file__).parent
        # No dashboard: nothing here would use it, and a local one costs start-up time and memory.
        ray.init(include_dashboard=False, log_to_driver=False, configure_logging=False, runtime_env={"py_modules": [str(package)]})


def tag_ray(model: LoadedModel, photos: Sequence[Photo], batch_size: int, workers: int) -> Iterator[tuple[Photo, TagRow]]:
    """`tagging.Engine` on Ray: `workers` actors of one CPU each (0: one per CPU Ray sees)."""
    import ray

    connect()
    context = ray.data.DataContext.get_current()
    context.execution_options.preserve_order = True  # the local engine's order, so both write the same file
    context.enable_progress_bars = False  # the command draws its own bar
    actors = workers or max(1, int(ray.cluster_resources().get("CPU", 1)))
    items = [
        {"index": index, "path": str(photo.path), "file": photo.file, "bytes": -1 if photo.bytes is None else photo.bytes,
         "mtime_ns": -1 if photo.mtime_ns is None else photo.mtime_ns}
        for index, photo in enumerate(photos)
    ]
    if not items:
        return
    dataset = ray.data.from_items(items).map_batches(
        Tagger,
        batch_size=max(1, batch_size),
        compute=ray.data.ActorPoolStrategy(size=actors),
        fn_constructor_args=(ray.put(_predictor_bytes(model)), model.name, model.card, 1),
        num_cpus=1,
        batch_format="numpy",
    )
    for record in dataset.iter_rows():
        yield photos[int(record["index"])], TagRow.from_json(json.loads(record["row"]))

