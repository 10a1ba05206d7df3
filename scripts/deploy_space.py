"""Build the Hugging Face Space bundle and publish it (landmark_core/space_bundle.py says what goes in).

    python scripts/deploy_space.py --space OWNER/NAME --samples-from data/landmark_images/test [--per-class 3] [--private]
    python scripts/deploy_space.py --dry-run --out /tmp/space --samples-from ../shared/data/landmarks/test

The token comes from HF_TOKEN or `hf auth login`. The bundle is built completely before anything is sent, in a
temporary folder unless --out names one; --dry-run only builds it and prints its files.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

# Run as a plain script from anywhere: make the repo's landmark_core importable.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from landmark_core import space_hub  # noqa: E402
from landmark_core.space_hub import PublishError  # noqa: E402


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--space", help="the Space to create or update, OWNER/NAME (not needed with --dry-run)")
    parser.add_argument("--samples-from", type=Path, required=True, help="a folder of <NN.Class_Name>/ photo folders: the test split")
    parser.add_argument("--per-class", type=int, default=3, help="sample photos per landmark (default: %(default)s)")
    parser.add_argument("--private", action="store_true", help="create the Space private")
    parser.add_argument("--dry-run", action="store_true", help="build the bundle and list it; publish nothing")
    parser.add_argument("--out", type=Path, help="build into this new or empty folder and keep it (default: a temporary folder)")
    args = parser.parse_args()
    if not args.dry_run and not args.space:
        parser.error("--space OWNER/NAME is required (or --dry-run to only build the bundle)")
    return args


def main() -> None:
    args = parse_args()
    try:
        token = None
        if not args.dry_run:
            space_hub.check_space_id(args.space)
            token = space_hub.hub_token()
    except PublishError as error:
        sys.exit(f"error: {error}")
    # Imported once the Hub checks passed: it loads torch and gradio, seconds that a deploy without a token
    # should not make its user wait.
    from landmark_core import space_bundle

    try:
        with tempfile.TemporaryDirectory(prefix="landmark-space-") as temporary:
            bundle = space_bundle.build_bundle(args.out or Path(temporary) / "space", args.samples_from, args.per_class)
            print(space_bundle.summary(bundle))
            if args.dry_run:
                return
            print(f"publishing to {args.space} ...", flush=True)
            url = space_hub.publish(bundle.folder, args.space, private=args.private, token=token)
            print(f"published: {url} (the Space builds for a few minutes before it answers)")
    except (space_bundle.BundleError, PublishError) as error:
        sys.exit(f"error: {error}")


if __name__ == "__main__":
    main()
