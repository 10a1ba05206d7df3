"""Train the transfer model (pretrained EfficientNet-Lite, its last 1x1 convolution fine-tuned, + new head) and ship
it as assets/models/transfer.pt + transfer.json + plots."""

from __future__ import annotations

import time

from torch.utils.data import TensorDataset

from landmark_core import backbones, cli, data, openset, runtime
from landmark_core.features import augmented_features, map_extractor
from landmark_core.models import TransferNet, TunedTop, tuned_features
from landmark_core.negatives import training_splits
from landmark_core.release import TrainingFacts, release
from landmark_core.teaching import TrainingFeatures, features_path, save_training_features
from landmark_core.optim import transfer_tuning_config
from landmark_core.training import fit


def main() -> None:
    # The 10 epochs of a one-cycle schedule need no early stopping on unknown landmarks, so every non-test other
    # landmark trains as "none of these": more negative landmarks reject unknown ones better (Lite0 features,
    # leave-landmarks-out: AUROC 0.931 / 0.945 / 0.957 with 8 / 12 / 16 of them).
    # bfloat16 where the CPU has matrix units: the tuned convolution's epochs took 5.7 s against 8.8 s here (Lite0),
    # the validation figures identical (7 of 229 known photos wrong; threshold 0.228 against 0.230).
    parser = cli.training_parser(
        __doc__, epochs=10, batch_size=128, lr=1e-2, image_size=None, patience=8, name="transfer", accept=openset.ACCEPT["transfer"],
        valid_landmarks=0,
    )
    # Lite1 at 240 px against Lite0 at 224, leave-4-landmarks-out over the 16 non-test other landmarks (4 folds,
    # without GCompris): AUROC 0.978 against 0.975, 85.0 % against 84.6 % rejected, 29 against 31 known validation
    # photos wrong, in 233 s against 158 s and 12.8 against 10.0 ms p50. Lite2 within the 5-minute budget (1 view,
    # 5 epochs) rejected fewer never-seen landmarks than Lite0 (docs/model_choices.md, "Tried for the transfer model, not taken").
    native = ", ".join(f"{spec.input_size} for {name}" for name, spec in sorted(backbones.BACKBONES.items()))
    parser.add_argument(
        "--backbone", choices=sorted(backbones.BACKBONES), default="efficientnet_lite1",
        help=f"read at its native --image-size unless one is given: {native}",
    )
    # 3 views matched 4 in leave-landmarks-out rejection and validation accuracy (two fold draws), 40 s sooner here.
    parser.add_argument("--views", type=int, default=3, help="augmented views per training photo")
    parser.add_argument("--tuned-lr", type=float, default=1e-3, help="peak learning rate of the fine-tuned backbone layers")
    args = parser.parse_args()
    args.image_size = args.image_size or backbones.BACKBONES[args.backbone].input_size
    started = time.perf_counter()
    runtime.configure_torch(args.seed)
    resize_size = data.decode_size(args.image_size)
    prepared = data.prepare(cli.data_root(args), resize_size, args.seed, args.run_dir)
    negatives = cli.negatives(args, resize_size, prepared)
    mean, std = backbones.NORMALIZE_MEAN, backbones.NORMALIZE_STD

    (train_images, train_labels), (valid_images, valid_labels), outputs = training_splits(prepared, negatives)
    model = TransferNet(backbones.load_backbone(args.backbone), outputs).eval()
    plain = data.eval_transform(resize_size, args.image_size, mean, std)
    augment = data.train_transform(args.image_size, mean, std)
    # The frozen layers' maps are computed once; the tuned layers and the head then train over them.
    frozen, tuned = backbones.split_for_tuning(model.backbone)
    extractor = map_extractor(frozen)
    sources = prepared.train.files + [file for source in negatives for file in source.files]
    key = data.fingerprint(sources, args.backbone, "frozen maps", args.image_size, args.views, args.seed)
    train_maps = augmented_features(extractor, train_images, train_labels, plain, augment, args.views, args.seed, args.run_dir / f"maps-train-{key}.pt")
    valid_maps = augmented_features(extractor, valid_images, valid_labels, plain, augment, 0, args.seed, args.run_dir / f"maps-valid-{key}.pt")
    top = TunedTop(tuned, model.dropout, model.classifier)
    config = transfer_tuning_config(
        len(prepared.train.class_folders), outputs, epochs=args.epochs, batch_size=args.batch_size, lr=args.lr,
        tuned_lr=args.tuned_lr, patience=args.patience, seed=args.seed, bfloat16=args.bfloat16,
    )
    history = fit(top, TensorDataset(*train_maps), TensorDataset(*valid_maps), args.run_dir, config, resume=args.resume)
    facts = TrainingFacts(
        name="transfer",
        kind="transfer",
        architecture=f"{args.backbone} (ImageNet weights, last 1x1 convolution fine-tuned, the rest frozen) + linear head",
        command=cli.command_line(),
        seed=args.seed,
        epochs_run=len(history),
        train_seconds=time.perf_counter() - started,
        history=[vars(record) for record in history],
        extra={"fit_config": vars(config), "backbone": args.backbone, "augmented_views": args.views},
    )
    card = release(model, facts, prepared, negatives, (mean, std), resize_size, args.image_size, args.accept, args.out)
    # What teaching a landmark in the app retrains the head on (landmark_core.teaching); no photo is kept.
    save_training_features(
        features_path(args.out / "transfer.pt"),
        TrainingFeatures(
            class_names=card["classes"], train_features=tuned_features(top, train_maps[0]), train_labels=train_maps[1], plain_rows=len(train_images),
            valid_features=tuned_features(top, valid_maps[0]), valid_labels=valid_maps[1], accept=args.accept, mean=list(mean), std=list(std),
        ),
    )


if __name__ == "__main__":
    cli.run(main)
