"""Open set: the ways of saying "not one of my landmarks" compared on the same photos, per model.

Each approach scores a photo (higher: more like a known landmark) and rejects it below the threshold that
accepts `openset.ACCEPT` of the known validation photos (the training scripts' --accept). Reported per approach: on
landmarks the model never saw in training, AUROC known-vs-unknown and the share rejected; the share of known
test photos accepted and the accuracy among them; and the share rejected of the official unknown samples
(Udacity classes the model does not know) and of everyday photos (landmark_core.everyday).

- transfer: frozen EfficientNet-Lite1 features (the shipped backbone), computed once per run and cached in the
  workdir, and linear heads trained with the shipped head recipe (optim.transfer_head_config), in a leave-landmarks-out k-fold over
  the other landmarks: each fold's landmarks are tested by heads trained on the others' photos as "none of
  these", so no landmark is ever in a fold's training and test. Figures are means over the folds. The shipped
  model also fine-tunes the backbone's last 1x1 convolution (optim.transfer_tuning_config); the comparison of
  scorers leaves that out, as it would cost each fold about 80 s more on 2 cores.
- scratch: post-hoc scorers on the shipped scratch model (trained with outlier exposure), on the landmarks its
  card says training held out. Training a scratch CNN without negatives for comparison takes ~30 min on
  2 cores: not done here.
"""

from __future__ import annotations

import contextlib
import statistics
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import torch
from torch import Tensor, nn
from torch.utils.data import TensorDataset
from tqdm import tqdm

from benchmarks.modes import Mode
from benchmarks.measuring import attempt, log
from benchmarks.shipped import load_card, load_predictor
from landmark_core import backbones, data, images, openset
from landmark_core.everyday import everyday_photos
from landmark_core.features import augmented_features, pooled_extractor
from landmark_core.negatives import landmark_files, list_landmarks, unknown_class_files
from landmark_core.places import display_name
from landmark_core.optim import transfer_head_config
from landmark_core.training import fit

FOLDS = 5
SEED = 0
TRANSFER_BACKBONE = "efficientnet_lite1"  # the shipped transfer model's
HEAD_DROPOUT = 0.2  # TransferNet's
NOT_COMPARED = "a scratch CNN trained without negatives (~30 min of training on 2 cores): not trained by this benchmark"

# Photo groups, named as in the model cards' open_set figures.
KNOWN_VALID, KNOWN_TEST = "known validation", "known test"
HELD_OUT, OFFICIAL, EVERYDAY = "held-out landmarks", "official unknown samples", "everyday photos"

APPROACHES = {
    "max_softmax": "the largest softmax probability over the landmarks' outputs alone",
    "energy": "logsumexp of the landmarks' logits",
    "knn": "cosine similarity to the 10th nearest known training photo (pooled features)",
    "mahalanobis": "minus the Mahalanobis distance to the nearest landmark's mean, one shared covariance (pooled features)",
    "outlier_exposure": 'the best landmark\'s probability in the softmax over every output, "none of these" included',
    "none_of_these": '1 - p("none of these")',
    "shipped": "outlier_exposure x familiarity: the predictors' known_score, as shipped",
}
WITHOUT_NEGATIVES = ("max_softmax", "energy", "knn", "mahalanobis")
WITH_NEGATIVES = ("outlier_exposure", "none_of_these")

ByGroup = dict[str, Tensor]  # photo group -> one row per photo: features, logits or known scores


def operating_point_report(scores: ByGroup, test_correct: Tensor, accept: float) -> dict:
    """openset.open_set_report at the threshold that accepts `accept` of the known validation photos."""
    threshold = openset.threshold_at(scores[KNOWN_VALID], accept)
    unknown = {group: values for group, values in scores.items() if group not in (KNOWN_VALID, KNOWN_TEST) and len(values)}
    return openset.open_set_report(scores[KNOWN_TEST], test_correct, unknown, threshold)


def fitted_scorers(names: Sequence[str], num_known: int, train_features: Tensor, train_labels: Tensor) -> dict[str, openset.Scorer]:
    """openset's scorers `names`, fitted on the pooled features of the known training photos (plain views)."""
    return {
        name: openset.create_scorer(name, num_known=num_known, train_features=train_features, train_labels=train_labels) for name in names
    }


def scored(scorer: openset.Scorer, logits: ByGroup, features: ByGroup) -> ByGroup:
    return {group: scorer(logits[group], features[group]) for group in features}


def best(approaches: dict[str, dict]) -> dict[str, str]:
    """The approach that rejects the most held-out landmark photos at the operating point (ties: AUROC), and the
    one with the best held-out AUROC."""
    def held_out(name: str, figure: str) -> float:
        return approaches[name]["unknown"][HELD_OUT][figure]

    return {
        "held_out_rejected": max(approaches, key=lambda name: (held_out(name, "rejected"), held_out(name, "auroc"))),
        "held_out_auroc": max(approaches, key=lambda name: held_out(name, "auroc")),
    }


# --- transfer: heads on frozen features, leave-landmarks-out k-fold ------------------------------------------


@dataclass(frozen=True)
class TransferFeatures:
    """Pooled backbone features of every photo the transfer comparison needs."""

    class_names: list[str]
    landmarks: list[str]  # the other landmarks, indexed by `negative_landmark`
    train: Tensor  # known training photos, plain view then each augmented view
    train_labels: Tensor
    train_plain: Tensor  # the plain views alone (prototypes, k-NN, Mahalanobis)
    train_plain_labels: Tensor
    negatives: Tensor  # every other-landmark photo, plain view then each augmented view
    negative_landmark: Tensor
    negatives_plain: Tensor  # the plain views alone (the held-out photos of a fold)
    negative_plain_landmark: Tensor
    evaluation: ByGroup  # plain views: known validation, known test, official unknown samples, everyday photos
    valid_labels: Tensor
    test_labels: Tensor

    @property
    def num_known(self) -> int:
        return len(self.class_names)


def transfer_features(data_dir: Path, negatives_dir: Path, udacity_dir: Path, cache_dir: Path, mode: Mode) -> TransferFeatures:
    """Decode every photo once and compute its features in two backbone runs, each cached under `cache_dir`: the
    training photos (known and other landmarks) with `mode.open_set_views` augmented views, the rest plain."""
    crop = mode.open_set_image_size
    short_side = data.decode_size(crop)
    prepared = data.prepare(data_dir, short_side, SEED, cache_dir)
    class_names = [display_name(folder) for folder in prepared.train.class_folders]
    num_known = len(class_names)
    landmarks = list_landmarks(negatives_dir)
    if not landmarks:
        raise FileNotFoundError(f"no photos of other landmarks under {negatives_dir} (<dir>/<landmark>/*.jpg)")
    landmark_photos = [landmark_files(negatives_dir, [landmark]) for landmark in landmarks]
    negative_files = [file for files in landmark_photos for file in files]
    official_files = unknown_class_files(udacity_dir, class_names)
    everyday_names, everyday = zip(*everyday_photos())

    extractor = pooled_extractor(backbones.load_backbone(TRANSFER_BACKBONE))
    plain = data.eval_transform(short_side, crop, backbones.NORMALIZE_MEAN, backbones.NORMALIZE_STD)
    augment = data.train_transform(crop, backbones.NORMALIZE_MEAN, backbones.NORMALIZE_STD)

    def features(name: str, decoded: list[Tensor], labels: list[int], key: str, views: int) -> tuple[Tensor, Tensor]:
        return augmented_features(extractor, decoded, labels, plain, augment, views, SEED, cache_dir / f"features-{name}-{key}.pt")

    # Training photos: known landmarks keep their labels; other landmark i is labelled num_known + i.
    negative_labels = [num_known + index for index, files in enumerate(landmark_photos) for _ in files]
    train, train_labels = features(
        "train",
        prepared.train_images + data.decode_images(negative_files, short_side, cache_dir, "decode other landmarks"),
        prepared.train_labels + negative_labels,
        data.fingerprint(prepared.train.files + negative_files, TRANSFER_BACKBONE, crop, mode.open_set_views, SEED),
        mode.open_set_views,
    )
    # Evaluation photos, labelled by group; every group is scored on its plain view only.
    groups = {
        KNOWN_VALID: prepared.valid_images,
        KNOWN_TEST: data.decode_images(prepared.test.files, short_side, cache_dir, "decode known test"),
        OFFICIAL: data.decode_images(official_files, short_side, cache_dir, "decode official unknown samples"),
        EVERYDAY: [data.resize_short_side(images.load_tensor(image, short_side), short_side) for image in everyday],
    }
    evaluation, group_index = features(
        "evaluation",
        [image for decoded in groups.values() for image in decoded],
        [index for index, decoded in enumerate(groups.values()) for _ in decoded],
        data.fingerprint(prepared.train.files + prepared.test.files + official_files, TRANSFER_BACKBONE, crop, SEED, everyday_names),
        0,
    )
    plain_rows = len(prepared.train_images) + len(negative_files)
    known, plain_known = train_labels < num_known, train_labels[:plain_rows] < num_known
    return TransferFeatures(
        class_names=class_names,
        landmarks=landmarks,
        train=train[known],
        train_labels=train_labels[known],
        train_plain=train[:plain_rows][plain_known],
        train_plain_labels=train_labels[:plain_rows][plain_known],
        negatives=train[~known],
        negative_landmark=train_labels[~known] - num_known,
        negatives_plain=train[:plain_rows][~plain_known],
        negative_plain_landmark=train_labels[:plain_rows][~plain_known] - num_known,
        evaluation={group: evaluation[group_index == index] for index, group in enumerate(groups)},
        valid_labels=torch.as_tensor(prepared.valid_labels),
        test_labels=torch.as_tensor(prepared.test.labels),
    )


def landmark_folds(landmarks: Sequence[str], folds: int, seed: int) -> list[list[str]]:
    """Whole landmarks dealt into `folds` test groups after a seeded shuffle: each is tested exactly once."""
    if len(landmarks) < 2:
        raise ValueError(f"a leave-landmarks-out comparison needs at least 2 other landmarks, found {len(landmarks)}")
    order = [landmarks[i] for i in torch.randperm(len(landmarks), generator=torch.Generator().manual_seed(seed)).tolist()]
    folds = min(folds, len(landmarks))
    return [sorted(order[fold::folds]) for fold in range(folds)]


def train_head(
    features: Tensor, labels: Tensor, valid: Tensor, valid_labels: Tensor, num_known: int, outputs: int, run_dir: Path, epochs: int
) -> nn.Module:
    """A linear head on cached features, with the shipped head recipe; validated on the known photos."""
    torch.manual_seed(SEED)
    head = nn.Sequential(nn.Dropout(HEAD_DROPOUT), nn.Linear(features.shape[1], outputs))
    with contextlib.redirect_stdout(sys.stderr):  # fit's epoch lines are progress; stdout keeps only the report
        config = transfer_head_config(num_known, outputs, epochs=epochs, seed=SEED)
        fit(head, TensorDataset(features, labels), TensorDataset(valid, valid_labels), run_dir, config)
    return head.eval()


@torch.inference_mode()
def head_logits(head: nn.Module, features: ByGroup) -> ByGroup:
    return {group: head(values) for group, values in features.items()}


def transfer_fold(
    known: TransferFeatures, test_landmarks: Sequence[str], plain_head: nn.Module, without_negatives: dict[str, openset.Scorer],
    with_negatives: dict[str, openset.Scorer], run_dir: Path, epochs: int,
) -> dict[str, dict]:
    """Every approach's report on one fold: the fold's landmarks held out, the other landmarks as negatives."""
    tested = torch.tensor([known.landmarks.index(landmark) for landmark in test_landmarks])
    features = {
        **known.evaluation,
        HELD_OUT: known.negatives_plain[torch.isin(known.negative_plain_landmark, tested)],
    }
    negatives = known.negatives[~torch.isin(known.negative_landmark, tested)]
    none_head = train_head(
        torch.cat([known.train, negatives]),
        torch.cat([known.train_labels, torch.full((len(negatives),), known.num_known)]),
        known.evaluation[KNOWN_VALID], known.valid_labels, known.num_known, known.num_known + 1, run_dir, epochs,
    )
    reports = {}
    for head, scorers in ((plain_head, without_negatives), (none_head, with_negatives)):
        logits = head_logits(head, features)
        correct = logits[KNOWN_TEST][:, : known.num_known].argmax(1) == known.test_labels
        for name, scorer in scorers.items():
            reports[name] = operating_point_report(scored(scorer, logits, features), correct, openset.ACCEPT["transfer"])
    return reports


def averaged(reports: Sequence[dict]) -> dict:
    """The reports' figures averaged over folds (photo counts left out: they differ from fold to fold)."""
    mean = {}
    for key, value in reports[0].items():
        if isinstance(value, dict):
            mean[key] = averaged([report[key] for report in reports])
        elif key != "photos":
            mean[key] = round(statistics.fmean(report[key] for report in reports), 4)
    return mean


def transfer_open_set(data_dir: Path, negatives_dir: Path, udacity_dir: Path, workdir: Path, mode: Mode) -> dict:
    known = transfer_features(data_dir, negatives_dir, udacity_dir, workdir / "open_set_transfer", mode)
    folds = landmark_folds(known.landmarks, FOLDS, SEED)
    heads_dir = workdir / "open_set_transfer" / "heads"
    plain_head = train_head(
        known.train, known.train_labels, known.evaluation[KNOWN_VALID], known.valid_labels, known.num_known, known.num_known,
        heads_dir / "without_negatives", mode.open_set_epochs,
    )
    # The shipped rule, calibrated as release() calibrates it: prototypes from the known training photos, the
    # familiarity floor from the known validation photos.
    prototypes = openset.class_prototypes(known.train_plain, known.train_plain_labels, known.num_known)
    floor = openset.familiarity_floor(known.evaluation[KNOWN_VALID], prototypes)

    def shipped(logits: Tensor, features: Tensor) -> Tensor:
        return openset.known_score(logits, known.num_known) * openset.familiarity(features, prototypes, floor, openset.FAMILIARITY_MARGIN)

    without_negatives = fitted_scorers(WITHOUT_NEGATIVES, known.num_known, known.train_plain, known.train_plain_labels)
    with_negatives = {**fitted_scorers(WITH_NEGATIVES, known.num_known, known.train_plain, known.train_plain_labels), "shipped": shipped}

    per_fold: dict[str, list[dict]] = {}
    for index, test_landmarks in enumerate(folds):
        log(f"open set, transfer fold {index + 1}/{len(folds)}: held out {', '.join(test_landmarks)}")
        reports = transfer_fold(
            known, test_landmarks, plain_head, without_negatives, with_negatives, heads_dir / f"fold{index + 1}", mode.open_set_epochs
        )
        for name, report in reports.items():
            per_fold.setdefault(name, []).append(report)
    approaches = {name: averaged(reports) for name, reports in per_fold.items()}
    return {
        "backbone": TRANSFER_BACKBONE,
        "image_size": mode.open_set_image_size,
        "augmented_views": mode.open_set_views,
        "heads": (
            "max_softmax and energy score a head trained without negatives; outlier_exposure, none_of_these and shipped "
            'a head trained with the fold\'s other landmarks as "none of these"; knn and mahalanobis read the features'
        ),
        "head_fit_config": vars(transfer_head_config(known.num_known, known.num_known + 1, epochs=mode.open_set_epochs, seed=SEED)),
        "operating_point": f"accept {openset.ACCEPT['transfer']:.0%} of the known validation photos",
        "familiarity": {"floor": floor, "margin": openset.FAMILIARITY_MARGIN},
        "photos": {
            "known train": len(known.train_plain),
            **{group: len(values) for group, values in known.evaluation.items()},
            HELD_OUT: len(known.negatives_plain),
        },
        "folds": [
            {"test_landmarks": landmarks, "train_landmarks": sorted(set(known.landmarks) - set(landmarks))} for landmarks in folds
        ],
        "scorers": APPROACHES,
        "approaches": approaches,
        "per_fold": per_fold,
        "best": best(approaches),
    }


# --- scratch: post-hoc scorers on the shipped model ----------------------------------------------------------


def graph_value(value: torch._C.Value, module: torch.jit.ScriptModule):
    """What a value of a frozen TorchScript graph holds: a folded constant, or a module attribute."""
    node = value.node()
    if node.kind() == "prim::Constant":
        return node.t("value")
    if node.kind() == "prim::GetAttr":
        return getattr(graph_value(node.input(), module), node.s("name"))
    if node.kind() == "prim::Param":  # the method's `self`
        return module
    raise ValueError(f"cannot read a {node.kind()} value out of the predictor's graph")


@torch.inference_mode()
def classifier_layer(predictor: torch.jit.ScriptModule, probe: Tensor) -> tuple[Tensor, Tensor]:
    """The weight and bias of the linear layer that `classify` applies to the pooled features.

    The shipped file has no method for logits, and freezing folded the layer into the graph, so it is read out of
    `classify`'s graph; checked against `classify` itself on the uint8 photo `probe`.
    """
    linears = predictor.classify.graph.findAllNodes("aten::linear")
    if len(linears) != 1:
        raise ValueError(f"expected one linear layer in the predictor's classify, found {len(linears)}")
    weight, bias = (graph_value(linears[0].inputsAt(index), predictor) for index in (1, 2))
    num_known = len(predictor.class_names)
    probabilities = torch.softmax((predictor.pooled(probe[None]) @ weight.T + bias)[:, :num_known], dim=1)
    if not torch.allclose(probabilities, predictor.classify(probe[None])[0], atol=1e-4):
        raise ValueError("the linear layer read out of the predictor does not reproduce its probabilities")
    return weight.detach(), bias.detach()


@torch.inference_mode()
def through_predictor(predictor: torch.jit.ScriptModule, photos: Sequence, desc: str) -> tuple[Tensor, Tensor]:
    """(pooled features (N,D), shipped known scores (N,)) of each photo, one at a time as the app sees it;
    `photos` are decoded uint8 tensors, files or PIL images."""
    features, scores = [], []
    for photo in tqdm(photos, desc=desc, unit="img", leave=False):
        x = (photo if isinstance(photo, Tensor) else images.load_tensor(photo, predictor.resize_size))[None]
        features.append(predictor.pooled(x))
        scores.append(predictor.known_score(x))
    if not features:
        return torch.zeros(0, 0), torch.zeros(0)
    return torch.cat(features), torch.cat(scores)


def scratch_open_set(models_dir: Path, data_dir: Path, negatives_dir: Path, udacity_dir: Path, workdir: Path) -> dict:
    predictor, card = load_predictor(models_dir, "scratch"), load_card(models_dir, "scratch")
    split = card.get("open_set", {}).get("landmark_split")
    if not split:
        raise ValueError(
            f"{models_dir / 'scratch.json'} names no held-out landmarks (open_set.landmark_split): train it with --negatives"
        )
    class_names, num_known = list(predictor.class_names), len(predictor.class_names)
    # The training split of the card's seed: the model's own training and validation photos.
    prepared = data.prepare(data_dir, data.decode_size(predictor.crop_size), card["seed"], workdir / "open_set_scratch")
    dataset_classes = [display_name(folder) for folder in prepared.train.class_folders]
    if dataset_classes != class_names:
        raise ValueError(f"{data_dir} holds {dataset_classes}, but the scratch model knows {class_names}")
    photos = {
        KNOWN_VALID: prepared.valid_images,
        KNOWN_TEST: prepared.test.files,
        HELD_OUT: landmark_files(negatives_dir, split["test"]),
        OFFICIAL: unknown_class_files(udacity_dir, class_names),
        EVERYDAY: [image for _, image in everyday_photos()],
    }
    train_features, _ = through_predictor(predictor, prepared.train_images, "scratch: known train")
    train_labels = torch.as_tensor(prepared.train_labels)
    features, shipped = {}, {}
    for group, items in photos.items():
        features[group], shipped[group] = through_predictor(predictor, items, f"scratch: {group}")
    features = {group: values for group, values in features.items() if len(values)}
    weight, bias = classifier_layer(predictor, prepared.valid_images[0])
    logits = {group: values @ weight.T + bias for group, values in features.items()}
    correct = logits[KNOWN_TEST][:, :num_known].argmax(1) == torch.as_tensor(prepared.test.labels)

    with_none = weight.shape[0] > num_known  # trained with "none of these" (outlier exposure)
    names = WITHOUT_NEGATIVES + (WITH_NEGATIVES if with_none else ())
    approaches = {
        name: operating_point_report(scored(scorer, logits, features), correct, openset.ACCEPT["scratch"])
        for name, scorer in fitted_scorers(names, num_known, train_features, train_labels).items()
    }
    approaches["shipped"] = operating_point_report({group: shipped[group] for group in features}, correct, openset.ACCEPT["scratch"])
    return {
        "model": str(models_dir / "scratch.pt"),
        "outputs": f"{weight.shape[0]} ({num_known} landmarks{' + none of these' if with_none else ''})",
        "operating_point": f"accept {openset.ACCEPT['scratch']:.0%} of the known validation photos",
        "shipped_threshold": predictor.unknown_threshold,
        "held_out_landmarks": split["test"],
        "photos": {"known train": len(train_features), **{group: len(values) for group, values in features.items()}},
        "scorers": {name: APPROACHES[name] for name in approaches},
        "approaches": approaches,
        "best": best(approaches),
        "not_compared": NOT_COMPARED,
    }


def open_set(models_dir: Path, data_dir: Path, negatives_dir: Path, udacity_dir: Path, workdir: Path, mode: Mode) -> dict:
    photos = (data_dir, negatives_dir, udacity_dir, workdir)
    return {
        "transfer": attempt("open set: transfer heads, leave-landmarks-out folds", transfer_open_set, *photos, mode),
        "scratch": attempt("open set: the shipped scratch model", scratch_open_set, models_dir, *photos),
    }
