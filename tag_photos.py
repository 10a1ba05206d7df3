"""Tag a photo library: every photo under a folder (or in a list of files) gets its landmark, place and map link.

    python tag_photos.py INPUT [--out tags.csv] [--model transfer|scratch|PATH.pt] [--write-gps OUT_DIR]
                         [--overwrite-gps] [--batch-size N] [--workers N] [--engine local|ray]

Rows are written as they come (CSV, or JSON Lines when --out ends in .jsonl); rerunning with the same --out skips
the photos it already holds. --write-gps copies each photo of a known landmark to OUT_DIR (same relative path)
with the landmark's position in its EXIF GPS, losslessly; the originals are only read. --engine ray runs the same
tagging on Ray (pip install -r requirements-scale.txt; RAY_ADDRESS=... to use a cluster).
"""

from __future__ import annotations

import argparse
import collections
import sys
from pathlib import Path

from tqdm import tqdm

from landmark_core import model_files, runtime, tagging
from landmark_core.model_files import ModelFileError
from landmark_core.tags import TagsFileError

def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("input", type=Path, help="a folder of photos (searched recursively) or a text file with one path per line")
    parser.add_argument("--out", type=Path, default=Path("tags.csv"), help="the tags file: .csv or .jsonl (default: %(default)s)")
    parser.add_argument("--model", default="transfer", help="transfer, scratch (from assets/models) or the path of a predictor .pt (default: %(default)s)")
    parser.add_argument("--write-gps", type=Path, metavar="OUT_DIR", help="write each known landmark's position into a copy of its photo here")
    parser.add_argument("--overwrite-gps", action="store_true", help="with --write-gps: replace a photo's own GPS position too")
    parser.add_argument("--batch-size", type=int, default=32, help="photos per predictor pass (default: %(default)s)")
    parser.add_argument(
        "--workers", type=int, default=None,
        help=f"local: processes decoding photos (0: this process decodes; default: {tagging.default_workers()}); "
        "ray: actors of one CPU (default: one per CPU of the cluster)",
    )
    parser.add_argument("--engine", choices=("local", "ray"), default="local", help="where the work runs (default: %(default)s)")
    return parser.parse_args()


def engine(name: str) -> tagging.Engine:
    if name == "ray":
        from landmark_core import ray_engine  # only this engine needs Ray installed

        return ray_engine.tag_ray
    return tagging.tag_local


def main() -> None:
    args = parse_args()
    runtime.configure_torch()
    model = model_files.load_model(model_files.DEFAULT_MODEL_DIR, args.model) if args.model in model_files.MODEL_NAMES else model_files.load_model_file(args.model)
    photos = tagging.list_photos(args.input)
    job = tagging.Tagging(model, photos, args.out, args.write_gps, args.overwrite_gps)
    print(f"{len(photos)} photos in {args.input}; {job.skipped} already in {args.out}; tagging {len(job.pending)} with {model.title}", file=sys.stderr)
    counts: collections.Counter[str] = collections.Counter()
    workers = args.workers if args.workers is not None else tagging.default_workers() if args.engine == "local" else 0
    rows = job.rows(engine(args.engine), args.batch_size, workers)
    for row in tqdm(rows, total=len(job.pending), unit="photo", dynamic_ncols=True):
        counts["unreadable" if row.error else "unknown" if row.is_unknown else "landmark"] += 1
        if row.geotag:
            counts[f"GPS {row.geotag}"] += 1
    summary = ", ".join(f"{count} {what}" for what, count in counts.items() if count)
    print(f"{summary or 'nothing new'}; tags in {args.out}", file=sys.stderr)


if __name__ == "__main__":
    try:
        main()
    except (ModelFileError, tagging.TaggingError, TagsFileError) as error:
        sys.exit(f"error: {error}")
