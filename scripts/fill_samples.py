"""Copy a few photos per landmark from a dataset into assets/samples/ for the app's gallery.

    python scripts/fill_samples.py                      # 2 per class from the default dataset's test/
    python scripts/fill_samples.py --from data/landmark_images --per-class 3

The photos are not committed (assets/samples is git-ignored); run this when building a deployment.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

# Run as a plain script from anywhere: make the repo's landmark_core importable.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from landmark_core.data import default_data_dir  # noqa: E402
from landmark_core.samples import SAMPLES_DIR, fill_samples  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--from", dest="source", type=Path, default=default_data_dir(), help="dataset root (with test/) or a split folder")
    parser.add_argument("--to", dest="destination", type=Path, default=SAMPLES_DIR, help="gallery folder")
    parser.add_argument("--per-class", type=int, default=2, help="photos per landmark")
    args = parser.parse_args()
    try:
        copied = fill_samples(args.source, args.destination, args.per_class)
    except FileNotFoundError as error:
        sys.exit(f"error: {error}")
    print(f"copied {len(copied)} photos into {args.destination}")


if __name__ == "__main__":
    main()
