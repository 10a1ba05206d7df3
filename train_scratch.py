"""Train the from-scratch CNN and ship it as assets/models/scratch.pt + scratch.json + plots."""

from __future__ import annotations

import time

from landmark_core import cli, data, runtime
from landmark_core.models import ScratchCNN
from landmark_core.release import TrainingFacts, release
from landmark_core.training import FitConfig, fit


def main() -> None:
    args = cli.training_parser(__doc__, epochs=40, batch_size=64, lr=3e-3, image_size=128, name="scratch").parse_args()
    started = time.perf_counter()
    runtime.configure_torch()
    root = cli.data_root(args)
    train = data.find_images(root, "train")
    test = data.find_images(root, "test", train.class_folders)
    train_idx, valid_idx = data.stratified_split(train.labels, valid_fraction=0.15, seed=args.seed)
    # Decoded a little larger than the crop, as the eval transform resizes before cropping.
    resize_size = round(args.image_size * 256 / 224)
    decoded = data.decode_images(train.files, resize_size, cache_dir=args.run_dir, desc="decode train")
    train_images = [decoded[i] for i in train_idx]
    valid_images = [decoded[i] for i in valid_idx]
    train_labels = [train.labels[i] for i in train_idx]
    valid_labels = [train.labels[i] for i in valid_idx]
    mean, std = data.channel_stats(train_images)

    config = FitConfig(epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, seed=args.seed)
    model = ScratchCNN(len(train.class_folders))
    history = fit(
        model,
        data.TensorImageDataset(train_images, train_labels, data.train_transform(args.image_size, mean, std)),
        data.TensorImageDataset(valid_images, valid_labels, data.eval_transform(resize_size, args.image_size, mean, std)),
        args.run_dir,
        config,
        resume=args.resume,
    )
    facts = TrainingFacts(
        name="scratch",
        kind="scratch",
        architecture="ScratchCNN (residual, widths 32-64-128-256-384)",
        command=cli.command_line(),
        seed=args.seed,
        epochs_run=len(history),
        train_seconds=time.perf_counter() - started,
        n_train=len(train_images),
        n_valid=len(valid_images),
        history=[vars(record) for record in history],
        extra={"fit_config": vars(config)},
    )
    card = release(model, facts, train, test, valid_images, valid_labels, (mean, std), resize_size, args.image_size, args.out)
    print(f"test accuracy {card['test_accuracy']:.2%} (top-3 {card['top3_accuracy']:.2%}) -> {args.out}/scratch.pt")


if __name__ == "__main__":
    cli.run(main)
