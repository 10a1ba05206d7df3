"""How the page words and draws what a model said: the landmarks it knows, its answer, its chart.

Shared by the Classify and Compare tabs. Every number comes from landmark_core.inference, the "not one of my
landmarks" decision included (`Prediction.is_unknown`): this module only words it.
"""

from __future__ import annotations

from landmark_core import inference, plots
from landmark_core.model_files import LoadedModel
from landmark_core.places import place_for

DEFAULT_K = 5
# Names listed under the title; a model that knows more gets "and N more" (its model facts list them all).
KNOWN_LIST_MAX = 12


def percent(probability: float) -> str:
    return f"{probability:.1%}"


def landmark_name(label: str) -> str:
    """The name people write ("Haleakalā National Park"), where the places table has one, else the class label."""
    place = place_for(label)
    return place.name if place else label


def count_landmarks(model: LoadedModel) -> str:
    """'7 landmarks' (or '1 landmark')."""
    count = len(model.class_names)
    return f"{count} landmark{'' if count == 1 else 's'}"


def known_landmarks_markdown(model: LoadedModel | None) -> str:
    """One line under the title, so visitors know what to try: 'I know 7 landmarks: A · B · ...'."""
    if model is None:
        return ""
    names = [landmark_name(label) for label in model.class_names]
    more = len(names) - KNOWN_LIST_MAX
    listed = " · ".join(names[:KNOWN_LIST_MAX]) + (f" · and {more} more (see Model facts)" if more > 0 else "")
    return f"**I know {count_landmarks(model)}:** {listed}"


def winner_markdown(prediction: inference.Prediction, model: LoadedModel) -> str:
    """The answer in words: the landmark and where it is, or that the photo is none of the model's landmarks
    (the closest one then only as a faded hint, so it does not read as an answer)."""
    best = prediction.best
    if prediction.is_unknown:
        return (
            f"### 🤔 This doesn't look like any of the {count_landmarks(model)} I know\n\n"
            f'<span class="closest-guess">closest: {landmark_name(best["label"])}, {best["probability"]:.0%}</span>'
        )
    place = best["place"]
    if place is None:
        return f"### 📍 {best['label']} — {percent(best['probability'])}"
    return (
        f"### 📍 {place['name']} — {percent(best['probability'])}\n\n"
        f"{place['region']}, {place['country']} · [Open in OpenStreetMap]({place['map_url']})"
    )


def decision(prediction: inference.Prediction) -> str:
    """The answer in a few words: the landmark's name, or "not one of mine"."""
    return "not one of mine" if prediction.is_unknown else landmark_name(prediction.best["label"])


def chart(prediction: inference.Prediction, model: LoadedModel):
    """The top-k bars under the known-score gauge; faded when the photo is not one of the model's landmarks."""
    top = prediction.top
    shown = f"the closest {len(top)} I know" if prediction.is_unknown else f"top {len(top)}"
    return plots.top_k_bars(
        [landmark_name(guess["label"]) for guess in top],
        [guess["probability"] for guess in top],
        f"{model.title} · {shown}",
        known_score=prediction.known_score,
        threshold=prediction.unknown_threshold,
        is_unknown=prediction.is_unknown,
    )
