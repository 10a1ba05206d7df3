"""What both training scripts share on the command line: arguments, the data folder, the run folder."""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path
from typing import Callable

from landmark_core.data import DOWNLOAD_DATA_DIR, DatasetError, PreparedData, default_data_dir
from landmark_core.download import DownloadError, download_dataset
from landmark_core.gcompris import fetch_gcompris_photos
from landmark_core.negatives import OTHER_LANDMARKS_DIR, HeldOutFold, Negatives, folder_name, list_landmarks, prepare_negatives
from landmark_core.places import display_name
from landmark_core.runtime import has_bfloat16_matrix_units

GCOMPRIS_DIR = Path("data/gcompris")


def training_parser(
    description: str, epochs: int, batch_size: int, lr: float, image_size: int | None, patience: int, name: str,
    accept: float, valid_landmarks: int,
) -> argparse.ArgumentParser:
    """The options both training scripts take; `image_size` None leaves the size to the script (its backbone's)."""
    parser = argparse.ArgumentParser(description=description, formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--data-dir", type=Path, default=None, help=f"dataset root with train/ and test/ (default: {default_data_dir()})")
    parser.add_argument("--download", action="store_true", help=f"download the full 50-class set into {DOWNLOAD_DATA_DIR} first")
    parser.add_argument("--epochs", type=int, default=epochs)
    parser.add_argument("--batch-size", type=int, default=batch_size)
    parser.add_argument("--lr", type=float, default=lr, help="peak learning rate")
    size_help = "side of the square crop the model sees" + ("" if image_size else "; none given: the backbone's native size")
    parser.add_argument("--image-size", type=int, default=image_size, help=size_help)
    parser.add_argument("--patience", type=int, default=patience, help="stop after this many epochs without a better validation loss")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--negatives", type=Path, default=OTHER_LANDMARKS_DIR,
        help="photos of other landmarks (<dir>/<landmark>/*.jpg), learnt as \"none of these\"; split by landmark "
        "into train/valid/test. A folder that does not exist means none",
    )
    parser.add_argument(
        "--valid-landmarks", type=int, default=valid_landmarks,
        help="of the --negatives landmarks, how many validate (early stopping) instead of training; 4 are always held out for the test",
    )
    parser.add_argument(
        "--gcompris", type=Path, default=GCOMPRIS_DIR,
        help="real photos of other famous places and everyday things (landmark_core.gcompris), fetched here from Debian "
        "when absent, learnt as \"none of these\". '' for none",
    )
    # Every GCompris place and subject trains by default: the most varied negatives there are; how well the recipe
    # rejects places and things it never saw is measured by cross-validation (benchmarks/crossvalidation.py).
    parser.add_argument(
        "--gcompris-held-out", type=_held_out_fold, default="none", metavar="K/N",
        help="never train on fold K of N of the GCompris places and of its subjects (seeded): the card's open-set test "
        "on them; 'none' trains on them all",
    )
    parser.add_argument(
        "--accept", type=float, default=accept,
        help="operating point: the unknown threshold keeps this share of the known validation photos",
    )
    parser.add_argument(
        "--bfloat16", action=argparse.BooleanOptionalAction, default=has_bfloat16_matrix_units(),
        help="train under bfloat16 autocast: much faster where the CPU multiplies bfloat16 in hardware (Intel AMX), "
        "slower elsewhere; the exported model computes in float32 either way",
    )
    parser.add_argument("--out", type=Path, default=Path("assets/models"), help=f"where {name}.pt, {name}.json and plots go")
    parser.add_argument("--run-dir", type=Path, default=Path("runs") / name, help="checkpoints, history and caches")
    parser.add_argument("--resume", action="store_true", help="continue from the last checkpoint in --run-dir")
    return parser


def _held_out_fold(text: str) -> HeldOutFold:
    try:
        return HeldOutFold.parse(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def command_line() -> str:
    """The exact command that was run, for the model card."""
    return shlex.join(["python", Path(sys.argv[0]).name, *sys.argv[1:]])


def data_root(args: argparse.Namespace) -> Path:
    """Resolve --data-dir / --download into a dataset root."""
    if args.download:
        return download_dataset(args.data_dir or DOWNLOAD_DATA_DIR)
    root = args.data_dir or default_data_dir()
    if not (root / "train").is_dir():
        raise DatasetError(
            f"No dataset at {root.resolve()}: expected {root}/train/<NN.Class_Name>/*.jpg and {root}/test/... "
            f"Run with --download to fetch the full set, or pass --data-dir."
        )
    return root


def negatives(args: argparse.Namespace, short_side: int, prepared: PreparedData) -> list[Negatives]:
    """The unknown photos to learn as "none of these", decoded and split by landmark: the --negatives other
    landmarks and the --gcompris places and everyday things; a source that is absent is left out, with a note."""
    sources = []
    if args.negatives.is_dir():
        sources.append(prepare_negatives(args.negatives, short_side, args.seed, args.run_dir, n_valid=args.valid_landmarks))
    else:
        print(f"note: no other-landmark photos at {args.negatives}: training without them.", file=sys.stderr)
    if args.gcompris == Path(""):
        return sources
    try:
        root = fetch_gcompris_photos(args.gcompris)
    except DownloadError as error:
        print(f"note: training without the GCompris photos: {error}", file=sys.stderr)
        return sources
    # A place the model knows is no negative; one among the other landmarks must not cross their split.
    exclude = [folder_name(display_name(folder)) for folder in prepared.train.class_folders] + list_landmarks(args.negatives)
    for folder, kind in (("places", "places (GCompris)"), ("everyday", "everyday photos (GCompris)")):
        if list_landmarks(root / folder, exclude):
            sources.append(
                prepare_negatives(
                    root / folder, short_side, args.seed, args.run_dir, n_valid=0, held_out=args.gcompris_held_out, exclude=exclude, kind=kind
                )
            )
    return sources


def run(main: Callable[[], object]) -> None:
    """Run a script's main; a data problem ends it with its message, not a traceback."""
    try:
        main()
    except (DatasetError, DownloadError) as error:
        sys.exit(f"error: {error}")
