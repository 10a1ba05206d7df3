"""How the page words, draws and tabulates answers (landmark_core.ui and the chart it draws), with tiny_models.py's
tiny random-weight models and synthetic photos. The page only formats what landmark_core.inference decides:
tests that need a decision take a real prediction and set its known score, never a trained model's numbers."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from types import SimpleNamespace

import gradio as gr
import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import to_hex
from matplotlib.text import Text

from conftest import synthetic_photo
from landmark_core import inference, model_files, plots
from landmark_core.places import load_places
from landmark_core.samples import Sample, list_samples
from landmark_core.tags import TagRow
from landmark_core.ui import LandmarkLens, answers, batch, build_page, classify, compare, facts
from landmark_core.ui.lens import ModelSlot
from tiny_models import CLASSES, make_model_dir, write_model

THRESHOLD = 0.4


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory) -> Path:
    return make_model_dir(tmp_path_factory.mktemp("models"))


@pytest.fixture(scope="module")
def lens(model_dir) -> LandmarkLens:
    return LandmarkLens(model_dir, samples=[])


@pytest.fixture(scope="module")
def model(lens) -> model_files.LoadedModel:
    return lens.slots["scratch"].model


@pytest.fixture(scope="module")
def predicted(model) -> inference.Prediction:
    return inference.predict(model, synthetic_photo(0, seed=1), k=3)


def decided(prediction: inference.Prediction, known_score: float) -> inference.Prediction:
    """`prediction` as if the model's known score for the photo were `known_score` (threshold THRESHOLD)."""
    return dataclasses.replace(prediction, known_score=known_score, unknown_threshold=THRESHOLD, is_unknown=known_score < THRESHOLD)


# --- what the page says ---------------------------------------------------------------------------------


def test_model_choices_show_test_accuracy(lens):
    assert lens.slots["scratch"].label == "Scratch (ScratchCNN) — 50.0% test"
    assert lens.slots["transfer"].label == "Transfer (EfficientNet-Lite0) — 90.0% test"
    assert lens.default_model == "transfer" and lens.banner() == ""


def test_the_page_names_the_landmarks_the_model_knows(model):
    assert answers.known_landmarks_markdown(model) == "**I know 4 landmarks:** " + " · ".join(CLASSES)
    every_place = SimpleNamespace(class_names=list(load_places()))  # a 50-landmark model, as far as the list goes
    listed = answers.known_landmarks_markdown(every_place)
    assert listed.startswith(f"**I know {len(load_places())} landmarks:** Haleakalā National Park · ")
    assert f"and {len(load_places()) - answers.KNOWN_LIST_MAX} more" in listed
    assert answers.known_landmarks_markdown(None) == ""


def test_a_confident_answer_names_the_place(predicted, model):
    words = answers.winner_markdown(decided(predicted, 0.9), model)
    place = predicted.best["place"]
    assert place["name"] in words and place["map_url"] in words and "doesn't look like" not in words
    assert answers.decision(decided(predicted, 0.9)) == answers.landmark_name(predicted.best["label"])


def test_a_low_known_score_is_answered_as_unknown_with_a_faded_hint(predicted, model):
    """Even a top probability near 100% is no answer when the known score is below the threshold."""
    sure_guess = dataclasses.replace(predicted, top=[dict(predicted.best, probability=0.97), *predicted.top[1:]])
    words = answers.winner_markdown(decided(sure_guess, 0.1), model)
    assert words.startswith("### 🤔 This doesn't look like any of the 4 landmarks I know")
    assert f'<span class="closest-guess">closest: {answers.landmark_name(predicted.best["label"])}, 97%</span>' in words
    assert "openstreetmap" not in words and "📍" not in words
    assert answers.decision(decided(predicted, 0.1)) == "not one of mine"


def test_facts_say_what_the_model_lacks_and_how_to_retrain(lens):
    text = facts.facts_markdown(lens.slots["scratch"])
    assert "Knows 4 landmarks" in text and "python train_scratch.py --epochs 1" in text
    assert "only 4 of the 50" in text and "Atomium" in text and "python train_scratch.py --download" in text
    assert "**Not one of my landmarks:** below a known score" in text  # the fixture card has no open-set figures


def test_facts_show_the_open_set_figures_of_the_card(lens):
    open_set = {
        "threshold": 0.38,
        "known_accepted": 0.951,
        "accuracy_among_accepted": 0.992,
        "operating_point": "accept 95% of the known validation photos",
        "unknown": {
            "held-out landmarks": {"photos": 120, "auroc": 0.9312, "rejected": 0.7},
            "everyday photos": {"photos": 40, "auroc": float("nan"), "rejected": 1.0},
        },
        "landmark_split": {"train": ["01.Mount_Rainier_National_Park"], "valid": ["02.Ljubljana_Castle"], "test": ["09.Golden_Gate_Bridge"]},
    }
    slot = lens.slots["scratch"]
    with_figures = dataclasses.replace(slot.model, card=dict(slot.model.card, open_set=open_set))
    text = facts.facts_markdown(ModelSlot("scratch", with_figures, None))
    assert "set to accept 95% of the known validation photos" in text
    assert "it answers 95.1% of them with a landmark, 99.2% of those correctly" in text
    assert "| held-out landmarks | 120 | 0.931 | 70.0% |" in text and "| everyday photos | 40 | — | 100.0% |" in text
    assert "cross-validated" not in text
    # benchmarks/crossvalidation.py's pooled figures join the table, said to be cross-validated
    pooled = {"held-out places (GCompris)": {"photos": 74, "rejected": 0.905, "auroc_per_fold": [0.98, 0.97], "auroc_mean": 0.9771}}
    cross_validated = dataclasses.replace(with_figures, cross_validation={"pooled": pooled, "folds": [{}, {}, {}]})
    text = facts.facts_markdown(ModelSlot("scratch", cross_validated, None))
    assert "| held-out places (GCompris), cross-validated | 74 | 0.977 | 90.5% |" in text and "one of 3 models" in text
    assert "**Held-out landmarks** (never seen in training): Golden Gate Bridge." in text
    broken = dataclasses.replace(slot.model, card=dict(slot.model.card, open_set={"unknown": "?", "known_accepted": None}))
    assert "**Not one of my landmarks:**" in facts.facts_markdown(ModelSlot("scratch", broken, None))


def test_compare_says_whether_the_models_agree():
    def sides(*decisions: str) -> dict:
        titles = ["Scratch (ScratchCNN)", "Transfer (EfficientNet-Lite0)", "Transfer + Sydney Opera House"]
        return {title: compare.Side(decision=said, title=title) for title, said in zip(titles, decisions)}

    assert compare.verdict_markdown(sides("Eiffel Tower", "Eiffel Tower")) == "**Both models say:** Eiffel Tower"
    assert compare.verdict_markdown(sides("not one of mine", "not one of mine")) == "**Both models say:** not one of mine"
    assert compare.verdict_markdown(sides("Eiffel Tower", "not one of mine")) == (
        "**The models disagree:** Scratch (ScratchCNN): Eiffel Tower · Transfer (EfficientNet-Lite0): not one of mine"
    )
    assert compare.verdict_markdown(sides("Eiffel Tower", "Eiffel Tower", "Eiffel Tower")) == "**All 3 models say:** Eiffel Tower"
    assert compare.verdict_markdown({"scratch": compare.Side(decision="Eiffel Tower"), "transfer": compare.Side()}) == ""


def test_compare_answers_with_both_models_and_a_taught_one(lens, tmp_path):
    photo = tmp_path / "photo.jpg"
    synthetic_photo(1, seed=2).save(photo)
    sides = compare.compare(lens, {"path": str(photo)})
    assert set(sides) == {"scratch", "transfer"} and all(side.chart is not None and side.decision for side in sides.values())
    assert compare.verdict_markdown(sides).startswith(("**Both models say:**", "**The models disagree:**"))
    taught = model_files.LoadedModel("Transfer + Sydney Opera House", lens.slots["transfer"].model.predictor, {"taught": {}})
    sides = compare.compare(lens, {"path": str(photo)}, taught)
    assert list(sides) == ["scratch", "transfer", compare.TAUGHT_SIDE] and sides[compare.TAUGHT_SIDE].title == "Transfer + Sydney Opera House"


# --- the chart ------------------------------------------------------------------------------------------


def bar_colours(axes) -> list[str]:
    return [to_hex(bar.get_facecolor()) for bar in axes.patches]


def test_chart_draws_the_known_score_against_the_threshold(predicted, model):
    known = answers.chart(decided(predicted, 0.9), model)
    guesses, gauge = known.axes
    rows = {tick.get_text(): y for tick, y in zip(guesses.get_yticklabels(), guesses.get_yticks())}
    assert rows[predicted.top[0]["label"]] > rows[predicted.top[1]["label"]]  # best on top
    assert gauge.get_title(loc="left") == "looks like one of my landmarks: 90% (needs 40%)"
    assert [line.get_xdata()[0] for line in gauge.get_lines()] == [pytest.approx(100 * THRESHOLD)]
    assert bar_colours(guesses)[0] == plots.GUESS_COLOURS[0]

    unknown = answers.chart(decided(predicted, 0.399), model)
    guesses, gauge = unknown.axes
    assert gauge.get_title(loc="left") == "looks like one of my landmarks: 39.9% (needs 40.0%)"  # never "40% (needs 40%)"
    assert set(bar_colours(guesses)) <= set(plots.FADED_COLOURS) and "closest" in guesses.get_title(loc="left")


def test_chart_names_landmarks_as_the_page_does(predicted, model):
    """The bars carry the name the title line and the answer use ("Haleakalā"), not the class folder's spelling."""
    haleakala = dataclasses.replace(predicted, top=[dict(predicted.top[0], label="Haleakala National Park")])
    guesses, _ = answers.chart(decided(haleakala, 0.9), model).axes
    assert [tick.get_text() for tick in guesses.get_yticklabels()] == ["Haleakalā National Park"]


@pytest.mark.parametrize(
    "labels, title, known_score",
    [
        (["Death Valley National Park"], "Transfer (EfficientNet-Lite0) · top 1", 0.85),
        (["A", "Prague Astronomical Clock", "B"], "Scratch (ScratchCNN) · top 3", None),
        (["Taj Mahal", "B"], "", 0.05),
        (["Haleakala National Park", "Gateway of India"], "Transfer (EfficientNet-Lite0) · the closest 2 I know", 1.0),
    ],
)
def test_top_k_bars_keeps_every_text_inside_the_figure(labels, title, known_score):
    """The margins are computed, not found by tight_layout: no label, title or caption may be cut off."""
    figure = plots.top_k_bars(
        labels, [1 / len(labels)] * len(labels), title, known_score=known_score, threshold=0.5, is_unknown=(known_score or 1) < 0.5
    )
    canvas = FigureCanvasAgg(figure)
    canvas.draw()  # places the axis label below the tick labels
    renderer = canvas.get_renderer()
    frame = figure.bbox
    texts = []
    for axes in figure.axes:
        texts += [child for child in axes.get_children() if isinstance(child, Text)]  # titles and notes
        if axes.axison:  # the gauge draws no axis
            low, high = axes.get_xlim()
            x_ticks = [label for label, x in zip(axes.get_xticklabels(), axes.get_xticks()) if low <= x <= high]  # the drawn ones
            texts += [*axes.get_yticklabels(), *x_ticks, axes.xaxis.label]
    texts = [text for text in texts if text.get_visible() and text.get_text()]
    assert len(texts) >= len(labels) + 3 + (known_score is not None)
    for text in texts:
        box = text.get_window_extent(renderer)
        assert frame.x0 <= box.x0 and box.x1 <= frame.x1 and frame.y0 <= box.y0 and box.y1 <= frame.y1, text.get_text()


# --- the handlers ---------------------------------------------------------------------------------------


def test_page_handlers_turn_bad_files_into_messages(lens, tmp_path):
    bad = tmp_path / "notes.jpg"
    bad.write_text("not a photo")
    with pytest.warns(UserWarning, match="not an image"):  # gr.Warning outside a request: a plain warning
        shown = classify.answer(lens, {"path": str(bad)}, "scratch", 3, False)
    assert shown.chart is None and shown.json is None and "notes.jpg is not an image" in shown.words
    good = tmp_path / "photo.jpg"
    synthetic_photo(1, seed=2).save(good)
    shown = classify.answer(lens, {"path": str(good)}, "scratch", 3, True)
    assert shown.chart is not None and len(shown.json["top"]) == 3 and "ms" in shown.latency and shown.heatmap is not None
    assert {"is_unknown", "known_score", "unknown_threshold"} <= set(shown.json)
    assert classify.api_predict(lens, {"path": str(good)}, "transfer", 2)["model"] == "transfer"
    with pytest.raises(gr.Error, match="No photo received"):
        classify.api_predict(lens, None, "transfer", 2)


def test_batch_table_and_summary_count_unknown_and_unreadable_photos(model):
    rows = [
        TagRow(file="a.jpg", landmark="Eiffel Tower", probability=0.9, is_unknown=False, known_score=0.8, map_url="https://www.openstreetmap.org/x"),
        TagRow(file="b.jpg", is_unknown=True, known_score=0.1, top3=(("Taj Mahal", 0.31), ("Eiffel Tower", 0.2))),
        TagRow(file="c.jpg", error="c.jpg is not an image we can read"),
    ]
    assert [batch.table_row(row) for row in rows[:2]] == [
        ["a.jpg", "Eiffel Tower", "90.0%", "80.0%", "", "[map](https://www.openstreetmap.org/x)", ""],
        ["b.jpg", "", "", "10.0%", "", "", "not one of my landmarks (closest: Taj Mahal, 31%)"],
    ]
    assert batch.summary_markdown(rows, model, skipped=0) == (
        "Tagged 2 of 3 files with Scratch (ScratchCNN); 1 shows none of its landmarks (see Note). "
        "1 could not be read (see Note)."
    )


# --- the galleries --------------------------------------------------------------------------------------


def test_gallery_photos_of_landmarks_no_model_knows_are_set_apart(lens, tmp_path):
    loose, eiffel, golden_gate = Sample(tmp_path / "mine.jpg"), Sample(tmp_path / "e.jpg", "Eiffel Tower"), Sample(tmp_path / "g.jpg", "Golden Gate Bridge")
    samples = [loose, eiffel, golden_gate]
    assert lens.known_landmarks == set(CLASSES)
    assert classify.unknown_samples(samples, lens.known_landmarks) == [golden_gate]
    assert classify.unknown_samples(samples, set()) == []  # no model loaded: nothing to compare with
    assert classify.picked_sample(samples, 2) == str(golden_gate.path)
    assert [classify.picked_sample(samples, index) for index in (-1, 3, None, "0")] == [None] * 4


def test_gallery_captions_name_landmarks_as_the_page_does(tmp_path):
    models = tmp_path / "models"
    models.mkdir()
    for name in ("scratch", "transfer"):
        write_model(models, name, classes=["Haleakala National Park", "Eiffel Tower"])
    (tmp_path / "samples" / "00.Haleakala_National_Park").mkdir(parents=True)
    synthetic_photo(0, seed=0).save(tmp_path / "samples" / "00.Haleakala_National_Park" / "photo.jpg")
    page = build_page(LandmarkLens(models, list_samples(tmp_path / "samples")))
    gallery = next(block for block in page.blocks.values() if getattr(block, "elem_id", None) == "sample-gallery")
    assert [item["caption"] for item in gallery.value] == ["Haleakalā National Park"]


def test_the_page_captions_unknown_samples_as_such(model_dir, tmp_path):
    for folder, seed in (("16.Eiffel_Tower", 1), ("09.Golden_Gate_Bridge", 2)):
        (tmp_path / folder).mkdir()
        synthetic_photo(seed, seed=seed).save(tmp_path / folder / "photo.jpg")
    page = build_page(LandmarkLens(model_dir, list_samples(tmp_path)))
    galleries = {block.elem_id: block for block in page.blocks.values() if isinstance(block, gr.Gallery)}
    assert [item["caption"] for item in galleries["sample-gallery"].value] == ["Eiffel Tower"]
    assert [item["caption"] for item in galleries["unknown-sample-gallery"].value] == ["Not one of mine: Golden Gate Bridge"]
    known_list = next(block for block in page.blocks.values() if getattr(block, "elem_id", None) == "known-landmarks")
    assert known_list.value == answers.known_landmarks_markdown(LandmarkLens(model_dir, []).slots["transfer"].model)
