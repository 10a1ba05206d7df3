"""Teaching a landmark (landmark_core.teaching and the page's session of taught models), on the tiny fixture
models and synthetic photos: a new landmark's photos have their own colour and stripes."""

from __future__ import annotations

import gc
import tempfile
import weakref
from pathlib import Path

import pytest
import torch
from gradio.utils import get_upload_folder

from conftest import synthetic_photo
from landmark_core import images, model_files, teaching
from landmark_core.teaching import TeachingError
from landmark_core.ui import LandmarkLens, teach
from landmark_core.ui.session import MAX_TAUGHT, TaughtModels
from tiny_models import CLASSES, make_model_dir

NEW_LABEL = 6  # a stripe angle and hue no fixture class has


def photos(label: int, count: int, seed: int) -> list[torch.Tensor]:
    return [images.to_uint8_tensor(synthetic_photo(label, seed=seed + i, size=(96, 80))) for i in range(count)]


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory) -> Path:
    """The small models, with the features teaching needs beside the transfer one."""
    return make_model_dir(tmp_path_factory.mktemp("models"))


@pytest.fixture(scope="module")
def base(model_dir) -> model_files.LoadedModel:
    return model_files.load_model(model_dir, "transfer")


@pytest.fixture(scope="module")
def features(model_dir) -> teaching.TrainingFeatures:
    return teaching.load_training_features(teaching.features_path(model_dir / "transfer.pt"))


@pytest.fixture(scope="module")
def taught(base, features) -> teaching.Taught:
    return teaching.teach(base.predictor, base.card, features, "Sydney Opera House", photos(NEW_LABEL, 10, seed=7000))


def test_taught_model_adds_the_landmark_and_answers_it(taught):
    assert list(taught.predictor.class_names) == CLASSES + ["Sydney Opera House"]
    assert taught.name == "Transfer + Sydney Opera House"
    new = torch.stack(photos(NEW_LABEL, 4, seed=8000))
    with torch.inference_mode():
        probabilities, scores = taught.predictor.classify(new)
    assert probabilities.shape == (4, len(CLASSES) + 1)
    assert (probabilities.argmax(1) == len(CLASSES)).all()
    figures = taught.figures
    assert figures["photos"] == 10 and figures["held_out_photos"] == 2
    assert 0 <= figures["held_out_recognised"] <= 2
    assert figures["seconds"] > 0 and figures["unknown_threshold"] == pytest.approx(float(taught.predictor.unknown_threshold))
    # How the landmarks it already knew fare is measured on real photos by benchmarks/teaching.py; here, that it is said.
    assert 0 <= figures["known_validation_accuracy"] <= 1 and 0 <= figures["validation_landmarks_rejected"] <= 1


def test_teaching_is_deterministic(base, features, taught):
    again = teaching.teach(base.predictor, base.card, features, "Sydney Opera House", photos(NEW_LABEL, 10, seed=7000))
    x = torch.stack(photos(NEW_LABEL, 2, seed=8100))
    with torch.inference_mode():
        torch.testing.assert_close(again.predictor.classify(x)[0], taught.predictor.classify(x)[0])


def test_downloaded_model_reloads_with_torch_alone_and_gives_the_same_answer(taught, tmp_path):
    session = TaughtModels()
    session.add(taught)
    model_file, card_file = map(Path, session.downloads[taught.name])
    assert model_file.suffix == ".pt" and card_file.suffix == ".json"
    reloaded = torch.jit.load(str(model_file))
    x = torch.stack(photos(NEW_LABEL, 2, seed=8200) + photos(1, 1, seed=8300))
    with torch.inference_mode():
        torch.testing.assert_close(reloaded.classify(x)[0], taught.predictor.classify(x)[0])
        torch.testing.assert_close(reloaded.known_score(x), taught.predictor.known_score(x))
    assert reloaded.unknown_threshold == taught.predictor.unknown_threshold
    loaded = model_files.load_model_file(model_file)
    assert loaded.class_names == CLASSES + ["Sydney Opera House"] and loaded.card["taught"]["landmark"] == "Sydney Opera House"
    assert loaded.title == "Transfer + Sydney Opera House"  # how tag_photos.py --model names it
    session.close()
    assert not model_file.exists()


@pytest.mark.parametrize(
    ("name", "count", "message"),
    [
        ("", 10, "Give the landmark a name"),
        ("   ", 10, "Give the landmark a name"),
        ("x" * 41, 10, "keep it to 40"),
        ("eiffel tower", 10, "I already know eiffel tower"),
        ("Opera", 4, "at least 5 photos"),
        ("Opera", 51, "at most 50 photos"),
    ],
)
def test_bad_requests_say_what_is_wrong(name, count, message):
    with pytest.raises(TeachingError, match=message):
        teaching.check_request(name, count, CLASSES)


def test_a_name_is_tidied():
    assert teaching.check_request("  Sydney   Opera House ", 5, CLASSES) == "Sydney Opera House"


def test_missing_or_corrupt_features_name_the_file_and_the_command(tmp_path):
    with pytest.raises(TeachingError, match=r"transfer_features\.pt, which is missing.*python train_transfer\.py"):
        teaching.load_training_features(tmp_path / "transfer_features.pt")
    (tmp_path / "transfer_features.pt").write_bytes(b"not a torch file")
    with pytest.raises(TeachingError, match=r"unreadable.*python train_transfer\.py"):
        teaching.load_training_features(tmp_path / "transfer_features.pt")


def test_features_without_a_landmark_drop_its_rows_and_keep_the_rest_in_order(features):
    fewer = features.without("Taj Mahal")
    assert fewer.class_names == ["Eiffel Tower", "Stonehenge", "Machu Picchu"]
    assert int(fewer.train_labels.max()) == 3 == fewer.num_known  # "none of these" moved down with the rest
    assert len(fewer.train_labels) == len(features.train_labels) - int((features.train_labels == 1).sum())
    assert fewer.plain_rows == len(fewer.train_labels)


def test_a_session_keeps_at_most_a_few_taught_models_and_others_never_see_them(base, features):
    mine, theirs = TaughtModels(), TaughtModels()
    names = [f"Place {i}" for i in range(2 * MAX_TAUGHT)]
    dropped, alive = [], []
    for name in names:
        taught = teaching.teach(base.predictor, base.card, features, name, photos(NEW_LABEL, 5, seed=100))
        alive.append(weakref.ref(taught.predictor))
        dropped.append(mine.add(taught))
    del taught
    gc.collect()
    assert [ref() is not None for ref in alive] == [False] * MAX_TAUGHT + [True] * MAX_TAUGHT  # memory: only 3 models live
    assert dropped == [None] * MAX_TAUGHT + [f"Transfer + {name}" for name in names[:MAX_TAUGHT]]
    assert mine.names == [f"Transfer + {name}" for name in names[MAX_TAUGHT:]]
    folder = Path(mine.downloads[mine.names[0]][0]).parents[1]
    assert len(list(folder.rglob("*.pt"))) == MAX_TAUGHT  # a dropped model's files go with it: disk stays bounded too
    assert theirs.names == []
    mine.close()
    assert mine.names == [] and mine.downloads == {} and not folder.exists()


def test_the_page_deletes_the_visitors_uploads_once_taught_and_nothing_else(model_dir, tmp_path):
    cache = Path(get_upload_folder())
    folders = [Path(tempfile.mkdtemp(dir=cache)) for _ in range(6)]
    uploads = []
    for i, folder in enumerate(folders[:5]):
        synthetic_photo(NEW_LABEL, seed=300 + i, size=(96, 80)).save(folder / f"opera_{i}.jpg")
        uploads.append(str(folder / f"opera_{i}.jpg"))
    page_file = folders[5] / "gallery_photo.jpg"  # cached by Gradio for the page itself, never uploaded
    synthetic_photo(NEW_LABEL, seed=399, size=(96, 80)).save(page_file)
    outside = tmp_path / "elsewhere.jpg"
    synthetic_photo(NEW_LABEL, seed=398, size=(96, 80)).save(outside)
    uploaded = set(uploads) | {str(outside)}
    session = TaughtModels()
    teach.teach_from_files(LandmarkLens(model_dir, []), session, "Sydney Opera House", uploads + [str(page_file), str(outside)], uploaded)
    assert not any(Path(upload).exists() for upload in uploads) and not uploaded
    assert page_file.exists() and outside.exists()  # not an upload; outside Gradio's cache
    session.close()


def test_a_failed_request_changes_nothing_and_keeps_the_photos_for_another_try(model_dir, tmp_path):
    lens, session = LandmarkLens(model_dir, []), TaughtModels()
    good = []
    for i in range(5):
        good.append(tmp_path / f"opera_{i}.jpg")
        synthetic_photo(NEW_LABEL, seed=500 + i, size=(96, 80)).save(good[-1])
    text = tmp_path / "notes.jpg"
    text.write_text("not a photo")
    paths = [str(path) for path in good + [text]]
    with pytest.raises(TeachingError, match="notes.jpg"):
        teach.teach_from_files(lens, session, "Sydney Opera House", paths, set(paths))
    with pytest.raises(TeachingError, match="Give the landmark a name"):
        teach.teach_from_files(lens, session, "", paths[:5], set(paths))
    assert session.names == [] and all(path.exists() for path in good)
    assert session.uploads == paths  # deleted when the session ends, if the visitor gives up


def test_the_tab_says_what_teaching_measured(taught):
    words = teach.figures_markdown(taught, dropped=None)
    assert "Taught: Transfer + Sydney Opera House" in words and "From 10 photos (8 augmented views each)" in words
    assert f"taught without 2 of your photos (every 5th), it recognised {taught.figures['held_out_recognised']} of them" in words
    assert "validation photos still answered right" in words and "was dropped" not in words
    assert f"{MAX_TAUGHT} taught models per session, Transfer + Old Place was dropped" in teach.figures_markdown(taught, "Transfer + Old Place")
