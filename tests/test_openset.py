"""Open set: the leave-landmarks-out split, the scores and their measures, and the predictor's contract
(`known_score` + `unknown_threshold` give, with torch alone, the same decision as the app)."""

import json
import math
import subprocess
import textwrap
from types import SimpleNamespace

import pytest
import torch

from conftest import PYTHON, SHARED_DATA, require, synthetic_photo
from landmark_core import inference, model_files, negatives, openset
from landmark_core.models import ScratchCNN
from landmark_core.predictor import Predictor, export_predictor

CLASSES = ["Eiffel Tower", "Taj Mahal", "Stonehenge"]
LANDMARKS = [f"place_{i:02d}" for i in range(20)]


def test_split_is_by_landmark_seeded_and_complete():
    split = negatives.split_landmarks(LANDMARKS, seed=0)
    parts = [set(split.train), set(split.valid), set(split.test)]
    assert (len(split.valid), len(split.test), len(split.train)) == (4, 4, 12)
    assert set().union(*parts) == set(LANDMARKS)
    assert all(not a & b for i, a in enumerate(parts) for b in parts[i + 1 :])
    assert negatives.split_landmarks(reversed(LANDMARKS), seed=0) == split  # order of discovery does not matter
    assert negatives.split_landmarks(LANDMARKS, seed=1) != split


def test_training_on_the_validation_landmarks_keeps_the_same_test_landmarks():
    # train_transfer.py trains on every non-test landmark; its held-out figures stay comparable with scratch's.
    with_valid = negatives.split_landmarks(LANDMARKS, seed=0)
    without_valid = negatives.split_landmarks(LANDMARKS, seed=0, n_valid=0)
    assert without_valid.test == with_valid.test and without_valid.valid == []
    assert set(without_valid.train) == set(with_valid.train) | set(with_valid.valid)


def test_held_out_folds_test_every_landmark_once_and_never_train_on_it():
    # benchmarks/crossvalidation.py pools the folds: each landmark is tested once, by a model that never saw it.
    landmarks = [f"place_{i:02d}" for i in range(61)]
    folds = [negatives.split_landmarks(landmarks, seed=0, n_valid=0, n_test=negatives.HeldOutFold(k, 3).test_count(61), fold=k) for k in range(3)]
    assert [len(split.test) for split in folds] == [21, 21, 19]
    assert sorted(name for split in folds for name in split.test) == landmarks
    assert all(not set(split.test) & set(split.train) and len(split.test) + len(split.train) == 61 for split in folds)
    assert folds[0] == negatives.split_landmarks(landmarks, seed=0, n_valid=0, n_test=21)  # fold 0: the first run


def test_held_out_fold_parses_k_of_n_or_none():
    assert negatives.HeldOutFold.parse("1/3") == negatives.HeldOutFold(1, 3)
    assert negatives.HeldOutFold.parse("none").test_count(61) == 0
    for text in ("3/3", "1", "a/b", "-1/3"):
        with pytest.raises(ValueError, match="K/N"):
            negatives.HeldOutFold.parse(text)


def test_split_with_none_held_out_trains_on_every_landmark():
    split = negatives.split_landmarks(LANDMARKS, seed=0, n_valid=0, n_test=0)
    assert split.test == split.valid == [] and split.train == LANDMARKS


def test_split_never_puts_a_landmarks_photos_on_both_sides(tmp_path):
    root = tmp_path / "other"
    for index, name in enumerate(LANDMARKS[:9]):
        (root / name).mkdir(parents=True)
        for photo in range(2):
            synthetic_photo(index, seed=index * 10 + photo, size=(40, 30)).save(root / name / f"{photo}.jpg")
    prepared = negatives.prepare_negatives(root, short_side=32, seed=0, cache_dir=None)
    train_files = set(negatives.landmark_files(root, prepared.split.train))
    held_out = {path.parent.name for path in prepared.test_files}
    assert held_out == set(prepared.split.test)
    assert not train_files & set(prepared.test_files)
    assert {path.parent.name for path in train_files}.isdisjoint(held_out)
    assert len(prepared.train_images) == 2 * len(prepared.split.train) and len(prepared.valid_images) == 2 * len(prepared.split.valid)


def test_shared_other_landmarks_split():
    require(negatives.OTHER_LANDMARKS_DIR.is_dir(), f"other landmarks not found at {negatives.OTHER_LANDMARKS_DIR}")
    landmarks = negatives.list_landmarks(negatives.OTHER_LANDMARKS_DIR)
    assert len(landmarks) == 20
    split = negatives.split_landmarks(landmarks, seed=0)
    assert not set(split.test) & (set(split.train) | set(split.valid))


def test_official_unknown_samples_are_the_classes_a_model_lacks():
    require((SHARED_DATA / "udacity_samples" / "test").is_dir(), "official samples not found")
    known = ["Haleakala National Park", "Stonehenge", "Eiffel Tower", "Taj Mahal", "Gateway of India", "Machu Picchu", "Great Wall of China"]
    files = negatives.unknown_class_files(SHARED_DATA / "udacity_samples" / "test", known)
    assert sorted(path.parent.name for path in files) == ["09.Golden_Gate_Bridge", "24.Soreq_Cave", "37.Atomium"]


def test_auroc_against_brute_force():
    known, unknown = torch.tensor([0.9, 0.8, 0.4, 0.4]), torch.tensor([0.1, 0.4, 0.85])
    pairs = [(k > u) + 0.5 * (k == u) for k in known.tolist() for u in unknown.tolist()]
    assert openset.auroc(known, unknown) == pytest.approx(sum(pairs) / len(pairs), abs=1e-4)
    assert openset.auroc(torch.tensor([2.0, 3.0]), torch.tensor([0.0, 1.0])) == 1.0
    assert openset.auroc(torch.tensor([0.0]), torch.tensor([1.0])) == 0.0
    assert math.isnan(openset.auroc(torch.tensor([]), torch.tensor([0.5])))  # nothing to compare


def test_threshold_keeps_the_accepted_share_of_known_validation_photos():
    scores = torch.linspace(0, 1, 101)
    threshold = openset.threshold_at(scores, accept=0.9)
    assert (scores >= threshold).float().mean().item() == pytest.approx(0.9, abs=0.011)
    assert openset.threshold_at(scores, accept=1.0) == 0.0
    for accept in (0, 1.5):
        with pytest.raises(ValueError, match=r"accept must be in \(0, 1\]"):
            openset.threshold_at(scores, accept=accept)


# Every measure is rounded to 4 decimals for the model card; each case's exact value has more (2/3, 1/6...).
@pytest.mark.parametrize(
    "measure, expected",
    [
        (lambda: openset.auroc(torch.tensor([0.5, 0.2, 0.9]), torch.tensor([0.3, 0.6, 0.1])), 0.6667),
        (lambda: openset.threshold_at(torch.tensor([0.0, 1 / 3]), accept=0.5), 0.1667),
        (lambda: openset.rejected(torch.tensor([0.1, 0.6, 0.7]), 0.5), 0.3333),
        (lambda: openset.familiarity_floor(torch.tensor([[1.0, 0.0], [1 / 3, (8 / 9) ** 0.5]]), torch.tensor([[1.0, 0.0]]), quantile=0.5), 0.6667),
        (lambda: openset.open_set_report(torch.tensor([0.9, 0.8, 0.2]), torch.tensor([True] * 3), {}, 0.5)["known_accepted"], 0.6667),
        (lambda: openset.open_set_report(torch.tensor([0.9, 0.8, 0.7]), torch.tensor([True, True, False]), {}, 0.5)["accuracy_among_accepted"], 0.6667),
    ],
    ids=["auroc", "threshold_at", "rejected", "familiarity_floor", "known_accepted", "accuracy_among_accepted"],
)
def test_measures_are_rounded_to_4_decimals(measure, expected):
    assert measure() == expected


def test_familiarity_floor_is_reached_by_all_but_the_quantile():
    """Eleven photos at cosine similarity 0, 0.1, ..., 1 to the one prototype: the floor at quantile 0.1 is 0.1,
    which ten of them reach."""
    similarities = torch.linspace(0, 1, 11, dtype=torch.float64)
    features = torch.stack([similarities, (1 - similarities**2).sqrt()], dim=1).float()
    floor = openset.familiarity_floor(features, torch.tensor([[1.0, 0.0]]), quantile=0.1)
    assert floor == pytest.approx(0.1, abs=1e-4)


def test_rejected_counts_only_scores_below_the_threshold():
    assert openset.rejected(torch.tensor([0.1, 0.5, 0.5, 0.9]), 0.5) == 0.25  # a score at the threshold is kept
    assert math.isnan(openset.rejected(torch.tensor([]), 0.5))  # no photos: no share to report


# (known score, whether "not one of my landmarks"): the rule is score < threshold, a score at it is accepted.
@pytest.mark.parametrize("score, unknown", [(0.99, False), (0.5, False), (0.4999, True), (0.0, True)])
def test_only_a_score_below_the_threshold_is_flagged_unknown(score, unknown):
    model = model_files.LoadedModel("transfer", SimpleNamespace(class_names=CLASSES, unknown_threshold=0.5), card={})
    probabilities = torch.tensor([[0.9, 0.06, 0.04]])
    answer = inference.predictions(model, probabilities, torch.tensor([score]), k=2, milliseconds=1.0)[0]
    assert answer.is_unknown is unknown and answer.known_score == score and answer.unknown_threshold == 0.5
    assert [guess["label"] for guess in answer.top] == ["Eiffel Tower", "Taj Mahal"]  # flagged or not, still ranked


def test_report_counts_rejections_and_accuracy_among_accepted():
    report = openset.open_set_report(
        known_scores=torch.tensor([0.9, 0.5, 0.2, 0.7]),  # 0.5 sits on the threshold: accepted
        known_correct=torch.tensor([True, False, True, True]),
        unknown_scores={"places": torch.tensor([0.1, 0.6, 0.3, 0.95])},
        threshold=0.5,
    )
    assert report["threshold"] == 0.5
    assert report["known_accepted"] == 0.75 and report["accuracy_among_accepted"] == 0.6667
    assert report["unknown"]["places"] == {"photos": 4, "auroc": 0.5625, "rejected": 0.5}  # AUROC: 9 of 16 pairs


def test_report_with_no_known_photo_accepted_has_no_accuracy():
    report = openset.open_set_report(torch.tensor([0.1, 0.2]), torch.tensor([True, True]), {}, threshold=0.5)
    assert report["known_accepted"] == 0.0 and math.isnan(report["accuracy_among_accepted"])


def test_class_prototypes_average_directions_not_lengths():
    features = torch.tensor([[1.0, 0.0], [0.0, 10.0], [-3.0, 0.0]])
    prototypes = openset.class_prototypes(features, torch.tensor([0, 0, 1]), num_known=2)
    assert torch.allclose(prototypes, torch.tensor([[0.5, 0.5], [-1.0, 0.0]]))


def test_none_of_these_output_lowers_the_known_score_but_not_the_landmark_distribution():
    logits = torch.tensor([[4.0, 1.0, 0.0, -5.0], [4.0, 1.0, 0.0, 6.0]])
    probabilities = openset.known_probabilities(logits, 3)
    assert torch.allclose(probabilities[0], probabilities[1]) and torch.allclose(probabilities.sum(1), torch.ones(2))
    scores = openset.known_score(logits, 3)
    assert scores[0] > 0.9 and scores[1] < 0.2


def test_familiarity_fades_below_the_floor():
    prototypes = torch.eye(3, 8)
    features = torch.stack([torch.eye(8)[0], torch.eye(8)[0] + 0.55 * torch.eye(8)[5], torch.eye(8)[7]])
    similarity = openset.prototype_similarity(features, prototypes)
    assert similarity[0] == pytest.approx(1.0) and similarity[2] == pytest.approx(0.0, abs=1e-6)
    values = openset.familiarity(features, prototypes, floor=0.9, margin=0.1)
    assert values[0] == 1.0 and 0 < values[1] < 1 and values[2] == 0.0
    assert torch.equal(openset.familiarity(features, torch.zeros(0), 0.9, 0.1), torch.ones(3))


def test_unknown_scorer_names_the_choices():
    with pytest.raises(ValueError, match="unknown open-set scorer 'cosine': choose one of max_softmax, energy, knn"):
        openset.create_scorer("cosine", num_known=3, train_features=torch.zeros(3, 2), train_labels=torch.arange(3))


def test_none_of_these_scorer_is_one_minus_that_outputs_probability():
    logits = torch.tensor([[2.0, 0.0, 1.0], [0.0, 0.0, 3.0]])
    scorer = openset.create_scorer("none_of_these", num_known=2, train_features=torch.zeros(2, 2), train_labels=torch.arange(2))
    expected = 1 - logits.exp()[:, 2] / logits.exp().sum(1)
    assert torch.allclose(scorer(logits, torch.zeros(2, 2)), expected)


def test_knn_scorer_is_the_similarity_to_the_10th_nearest_training_photo():
    """12 training photos at cosine 1.0, 0.95, ..., 0.45 to the query direction, each at its own length; two
    queries along that direction at different lengths: both score the 10th similarity, 0.55."""
    similarities = torch.linspace(1.0, 0.45, 12)
    bank = torch.stack([similarities, (1 - similarities**2).sqrt()], dim=1) * torch.arange(1, 13)[:, None]
    scorer = openset.create_scorer("knn", num_known=1, train_features=bank, train_labels=torch.zeros(12, dtype=torch.long))
    scores = scorer(torch.zeros(2, 1), torch.tensor([[1.0, 0.0], [5.0, 0.0]]))
    assert torch.allclose(scores, torch.tensor([0.55, 0.55]), atol=1e-5)


def test_mahalanobis_scorer_against_a_hand_computed_distance():
    """Three landmarks, each four photos one unit left, right, above and below its centre: the shared
    covariance is 0.5 I, plus the 1e-3 I regulariser. A fourth, "none of these" group must be left out."""
    offsets = torch.tensor([[1.0, 0.0], [-1.0, 0.0], [0.0, 1.0], [0.0, -1.0]])
    centres = torch.tensor([[0.0, 0.0], [10.0, 10.0], [-10.0, 10.0], [0.0, -10.0]])
    features = (centres[:, None] + offsets[None]).reshape(16, 2)
    scorer = openset.create_scorer("mahalanobis", num_known=3, train_features=features, train_labels=torch.arange(4).repeat_interleave(4))
    scores = scorer(torch.zeros(3, 1), torch.tensor([[0.0, 0.0], [2.0, 0.0], [0.0, -10.0]]))
    nearest_known_squared = torch.tensor([0.0, 4.0, 100.0])  # to (0, 0) each time
    assert torch.allclose(scores, -nearest_known_squared / 0.501, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("name", sorted(openset.SCORERS))
def test_every_scorer_ranks_training_like_photos_above_far_ones(name):
    torch.manual_seed(0)
    centres = torch.randn(3, 16) * 4
    labels = torch.arange(3).repeat(20)
    features = centres[labels] + torch.randn(60, 16) * 0.3
    far = torch.randn(10, 16) * 0.3 - centres.mean(0)
    head = torch.cat([centres, -centres.sum(0, keepdim=True)]) / 4  # K landmark rows + "none of these"
    scorer = openset.create_scorer(name, num_known=3, train_features=features, train_labels=labels)
    near_scores, far_scores = scorer(features @ head.T, features), scorer(far @ head.T, far)
    assert openset.auroc(near_scores, far_scores) > 0.9, name


def make_open_set_predictor(threshold: float) -> Predictor:
    torch.manual_seed(0)
    predictor = Predictor(ScratchCNN(len(CLASSES) + 1), CLASSES, mean=[0.5] * 3, std=[0.25] * 3, resize_size=73, crop_size=64)
    images = [torch.randint(0, 256, (3, 80, 90), dtype=torch.uint8) for _ in range(6)]
    with torch.inference_mode():
        pooled = torch.cat([predictor.pooled(image[None]) for image in images])
    predictor.prototypes = openset.class_prototypes(pooled, torch.tensor([0, 1, 2, 0, 1, 2]), len(CLASSES))
    predictor.familiarity_floor = -1.0  # every photo familiar: the decision rests on the threshold alone
    predictor.unknown_threshold = threshold
    return predictor


def test_forward_stays_a_distribution_over_the_landmarks():
    predictor = make_open_set_predictor(0.5)
    image = torch.randint(0, 256, (2, 3, 70, 100), dtype=torch.uint8)
    probabilities, scores = predictor.classify(image)
    assert probabilities.shape == (2, len(CLASSES)) and torch.allclose(probabilities.sum(1), torch.ones(2))
    assert torch.equal(predictor(image), probabilities) and torch.equal(predictor.known_score(image), scores)
    assert ((scores >= 0) & (scores <= 1)).all()


@pytest.mark.parametrize("margin", [-0.2, 0.2])
def test_torch_alone_gives_the_apps_decision(tmp_path, margin):
    """Export, reload in a fresh process with only torch, and compare with inference.predict on the same photo.

    The threshold sits 20 % above or below this photo's score: a photo scoring above it is answered with its
    landmark (not flagged), one below it is "not one of my landmarks"."""
    photo = tmp_path / "photo.png"
    synthetic_photo(1, seed=3, size=(120, 90)).save(photo)
    probe = make_open_set_predictor(0.0)
    with torch.inference_mode():
        score = probe.known_score(inference.images.load_tensor(photo, probe.resize_size)[None]).item()
    threshold = min(max(score + margin * score, 1e-4), 0.9999)
    model_dir = tmp_path / "models"
    model_dir.mkdir()
    export_predictor(make_open_set_predictor(threshold), model_dir / "scratch.pt")
    (model_dir / "scratch.json").write_text(json.dumps({"classes": CLASSES}))
    app_answer = inference.predict(model_files.load_model(model_dir, "scratch"), photo, k=3)
    assert app_answer.is_unknown == (margin > 0)

    script = textwrap.dedent(
        f"""
        import json, sys
        import numpy as np, torch
        from PIL import Image
        model = torch.jit.load({str(model_dir / 'scratch.pt')!r})
        image = torch.from_numpy(np.asarray(Image.open({str(photo)!r}).convert("RGB")).copy()).permute(2, 0, 1)[None]
        score = model.known_score(image)[0].item()
        assert not [m for m in sys.modules if m.startswith(("landmark_core", "torchvision", "timm"))]
        print(json.dumps({{"score": score, "threshold": model.unknown_threshold, "unknown": score < model.unknown_threshold,
                           "probabilities": model(image)[0].tolist()}}))
        """
    )
    done = subprocess.run([PYTHON, "-c", script], capture_output=True, text=True, cwd=tmp_path, check=True)
    alone = json.loads(done.stdout)
    assert alone["unknown"] == app_answer.is_unknown
    assert alone["threshold"] == pytest.approx(app_answer.unknown_threshold)
    assert alone["score"] == pytest.approx(app_answer.known_score, abs=1e-5)
    assert max(alone["probabilities"]) == pytest.approx(app_answer.best["probability"], abs=1e-5)

