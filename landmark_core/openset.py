"""Open set: how sure a model is that a photo shows one of its landmarks at all, and how that is measured.

The shipped *known score* multiplies two things, because each misses what the other catches:
- outlier exposure (Hendrycks et al. 2019) with an explicit "none of these" output: both models are trained on
  their landmarks plus photos of other landmarks labelled as one extra class, and this part is the largest
  probability any real landmark gets in the softmax over all outputs. An unknown *landmark* moves mass to
  "none of these"; a photo torn between two known landmarks scores low too, which keeps accepted answers
  accurate. Alone it misses photos unlike any landmark at all (a cat, a document), which land anywhere.
- familiarity: the cosine similarity of the photo's pooled features to the nearest landmark's mean training
  feature (a prototype). Photos less similar than nearly every validation photo of a known landmark fade to
  0 over a margin. It catches cats, food, documents and far-away places, which outlier exposure misses.
`forward` still returns a distribution over the real landmarks only.

`SCORERS` holds the alternatives the benchmark compares on the same split (max softmax probability, energy,
cosine k-NN, Mahalanobis, the "none of these" probability): each is fitted on training logits and features and
scores (logits, features) pairs, higher meaning "more like a known landmark".
"""

from __future__ import annotations

from typing import Callable, Dict, Tuple

import torch
from torch import Tensor
from torch.nn import functional as F


# The Predictor compiles the next five functions with TorchScript, which cannot compile the wrapper mutmut puts
# around a function it mutates: the pragmas leave them out of mutation testing (docs/mutation_testing.md).
def known_probabilities(logits: Tensor, num_known: int) -> Tensor:  # pragma: no mutate block
    """Softmax over the real landmarks' outputs only (a "none of these" output, if any, is left out)."""
    return torch.softmax(logits[:, :num_known], dim=1)


def known_score(logits: Tensor, num_known: int) -> Tensor:  # pragma: no mutate block
    """(N,) in [0, 1]: the best real landmark's probability in the softmax over every output.

    With a "none of these" output this is outlier exposure's score; without one it is the plain maximum
    softmax probability.
    """
    return torch.softmax(logits, dim=1)[:, :num_known].max(1).values


def prototype_similarity(features: Tensor, prototypes: Tensor) -> Tensor:  # pragma: no mutate block
    """(N,) cosine similarity of each pooled feature vector to its nearest class prototype."""
    return (F.normalize(features, dim=1) @ F.normalize(prototypes, dim=1).T).max(1).values


def familiarity(features: Tensor, prototypes: Tensor, floor: float, margin: float) -> Tensor:  # pragma: no mutate block
    """(N,) in [0, 1]: 1 at or above `floor` prototype similarity, fading linearly to 0 at `floor - margin`.

    No prototypes (an empty tensor) means no opinion: all ones.
    """
    if prototypes.numel() == 0:
        return torch.ones(features.shape[0], dtype=features.dtype, device=features.device)
    return ((prototype_similarity(features, prototypes) - floor) / margin + 1.0).clamp(0.0, 1.0)


def answer(logits: Tensor, features: Tensor, num_known: int, prototypes: Tensor, floor: float, margin: float) -> Tuple[Tensor, Tensor]:  # pragma: no mutate block
    """(probabilities over the real landmarks (N, num_known), known score (N,)) from a head's logits and the pooled
    features it read: what a Predictor answers, and what teaching calibrates on."""
    return known_probabilities(logits, num_known), known_score(logits, num_known) * familiarity(features, prototypes, floor, margin)


def class_prototypes(features: Tensor, labels: Tensor, num_known: int) -> Tensor:
    """(num_known, D): the mean of each known landmark's L2-normalised training features."""
    normalised = F.normalize(features, dim=1)
    return torch.stack([normalised[labels == label].mean(0) for label in range(num_known)])


# Chosen on validation (transfer features; validation landmarks + the drawn everyday pictures, 0.97 of known
# validation photos accepted): floors at the 0-0.5th percentile with margins 0.05-0.2 rejected the most
# (82.5 % and 100 %); higher floors rejected fewer validation landmarks. The middle of that plateau:
FAMILIARITY_QUANTILE = 0.005
FAMILIARITY_MARGIN = 0.1


def familiarity_floor(valid_features: Tensor, prototypes: Tensor, quantile: float = FAMILIARITY_QUANTILE) -> float:
    """The prototype similarity that all but `quantile` of the known validation photos reach."""
    return round(torch.quantile(prototype_similarity(valid_features, prototypes).double(), quantile).item(), 4)


# --- scorers the benchmark compares --------------------------------------------------------------------------

Scorer = Callable[[Tensor, Tensor], Tensor]  # (logits, features) -> (N,) higher = more like a known landmark


def _msp(num_known: int, **_) -> Scorer:
    """Maximum softmax probability over the real landmarks only (Hendrycks & Gimpel 2017): the old rule."""
    return lambda logits, features: known_probabilities(logits, num_known).max(1).values


def _outlier_exposure(num_known: int, **_) -> Scorer:
    return lambda logits, features: known_score(logits, num_known)


def _none_of_these(num_known: int, **_) -> Scorer:
    """1 - p("none of these"): only meaningful for a model trained with that output."""
    return lambda logits, features: 1 - torch.softmax(logits, dim=1)[:, num_known:].sum(1)


def _energy(num_known: int, **_) -> Scorer:
    """Negative free energy of the real landmarks' logits (Liu et al. 2020)."""
    return lambda logits, features: torch.logsumexp(logits[:, :num_known], dim=1)


def _knn(train_features: Tensor, k: int = 10, **_) -> Scorer:
    """Cosine similarity to the k-th nearest training photo of a known landmark (Sun et al. 2022)."""
    bank = F.normalize(train_features, dim=1)
    k = min(k, len(bank))
    return lambda logits, features: (F.normalize(features, dim=1) @ bank.T).topk(k, dim=1).values[:, -1]


def _mahalanobis(train_features: Tensor, train_labels: Tensor, **_) -> Scorer:
    """Minus the smallest Mahalanobis distance to a class mean under one shared covariance (Lee et al. 2018)."""
    classes = sorted(set(train_labels.tolist()))
    means = torch.stack([train_features[train_labels == c].mean(0) for c in classes])
    centred = train_features - means[torch.searchsorted(torch.tensor(classes), train_labels)]
    covariance = centred.T @ centred / len(centred) + 1e-3 * torch.eye(train_features.shape[1])
    precision = torch.linalg.inv(covariance.double()).float()

    def score(logits: Tensor, features: Tensor) -> Tensor:
        offsets = features[:, None, :] - means[None]
        return -torch.einsum("ncd,de,nce->nc", offsets, precision, offsets).min(1).values

    return score


SCORERS: Dict[str, Callable[..., Scorer]] = {
    "max_softmax": _msp,
    "energy": _energy,
    "knn": _knn,
    "mahalanobis": _mahalanobis,
    "outlier_exposure": _outlier_exposure,
    "none_of_these": _none_of_these,
}


def create_scorer(name: str, *, num_known: int, train_features: Tensor, train_labels: Tensor) -> Scorer:
    """The scorer `name`, fitted on the known landmarks' training features (labels < num_known)."""
    if name not in SCORERS:
        raise ValueError(f"unknown open-set scorer {name!r}: choose one of {', '.join(SCORERS)}")
    known = train_labels < num_known
    return SCORERS[name](num_known=num_known, train_features=train_features[known], train_labels=train_labels[known])


# --- measuring -----------------------------------------------------------------------------------------------


def auroc(known: Tensor, unknown: Tensor) -> float:
    """The chance that a known photo scores above an unknown one (ties count half): 1 = perfect, 0.5 = chance."""
    known, unknown = known.double().flatten(), unknown.double().flatten()
    if len(known) == 0 or len(unknown) == 0:
        return float("nan")
    above = (known[:, None] > unknown[None, :]).double().mean()
    ties = (known[:, None] == unknown[None, :]).double().mean()
    return round((above + 0.5 * ties).item(), 4)


# Each model's operating point (the training scripts' --accept): the share of the known validation photos its threshold
# keeps. Issue 11 asks each to accept 95 % (transfer) / 90 % (scratch) of known photos; these add a margin for an
# estimate from 229 validation photos (one standard error: 1.4 / 2.0 points). Transfer's, by leave-4-landmarks-out
# cross-validation over the 16 non-test other landmarks (one fold draw, 4 folds), accept 97 / 96 / 95 %: unknown
# landmarks rejected 83.1 / 84.4 / 86.5 %, accepted known validation photos right 98.5 / 99.0 / 99.3 % (an
# exploratory script, not kept); 95 % would put the expected acceptance right at the target. Scratch's was 93 %, set
# before this rule; by it (92 %), on validation: validation landmarks rejected 105 -> 109 of 120, everyday
# validation pictures 8 -> 9 of 11, official samples still rejected (docs/model_choices.md).
ACCEPT = {"transfer": 0.96, "scratch": 0.92}


def threshold_at(known_valid_scores: Tensor, accept: float) -> float:
    """The known score that keeps `accept` of the known validation photos at or above it (the operating point)."""
    if not 0 < accept <= 1:
        raise ValueError(f"accept must be in (0, 1], got {accept}")
    return round(torch.quantile(known_valid_scores.double(), 1.0 - accept).item(), 4)


def rejected(scores: Tensor, threshold: float) -> float:
    """Share of photos the rule calls "not one of my landmarks"."""
    return round((scores < threshold).double().mean().item(), 4) if len(scores) else float("nan")


def open_set_report(
    known_scores: Tensor, known_correct: Tensor, unknown_scores: Dict[str, Tensor], threshold: float
) -> dict:
    """Per unknown group: AUROC against the known photos and the share rejected; for the known photos: the share
    accepted and the accuracy among those accepted."""
    accepted = known_scores >= threshold
    return {
        "threshold": threshold,
        "known_accepted": round(accepted.double().mean().item(), 4),
        "accuracy_among_accepted": round(known_correct[accepted].double().mean().item(), 4) if accepted.any() else float("nan"),
        "unknown": {
            group: {"photos": len(scores), "auroc": auroc(known_scores, scores), "rejected": rejected(scores, threshold)}
            for group, scores in unknown_scores.items()
        },
    }

