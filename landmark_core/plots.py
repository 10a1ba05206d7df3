"""Figures people would rather see than read. Built with matplotlib's object API (no pyplot state), so
they are safe to draw from the app's worker threads."""

from __future__ import annotations

import os
from typing import Sequence

from matplotlib import rcParams
from matplotlib.figure import Figure
from matplotlib.font_manager import FontProperties
from matplotlib.textpath import text_to_path

from landmark_core.files import atomic_path


def save(figure: Figure, path: str | os.PathLike) -> None:
    with atomic_path(path) as temporary:
        figure.savefig(temporary, format="png", dpi=110, bbox_inches="tight")


def training_curves(history: Sequence[dict], title: str) -> Figure:
    """Loss and accuracy per epoch, train vs validation."""
    epochs = [record["epoch"] for record in history]
    figure = Figure(figsize=(10, 4))
    loss_axes, accuracy_axes = figure.subplots(1, 2)
    for axes, key, label in ((loss_axes, "loss", "loss"), (accuracy_axes, "accuracy", "accuracy")):
        axes.plot(epochs, [r[f"train_{key}"] for r in history], marker="o", markersize=3, label="train")
        axes.plot(epochs, [r[f"valid_{key}"] for r in history], marker="o", markersize=3, label="validation")
        axes.set_xlabel("epoch")
        axes.set_ylabel(label)
        axes.grid(alpha=0.3)
        axes.legend()
    figure.suptitle(title)
    return figure


def confusion_matrix(matrix: Sequence[Sequence[int]], class_names: Sequence[str], title: str) -> Figure:
    """Rows: true class; columns: predicted class; cells count test photos."""
    size = max(5.0, 0.32 * len(class_names) + 3)
    figure = Figure(figsize=(size, size))
    axes = figure.subplots()
    axes.imshow(matrix, cmap="Blues")
    ticks = range(len(class_names))
    axes.set_xticks(ticks, class_names, rotation=60, ha="right", fontsize=8)
    axes.set_yticks(ticks, class_names, fontsize=8)
    axes.set_xlabel("predicted")
    axes.set_ylabel("true")
    if len(class_names) <= 20:
        peak = max(max(row) for row in matrix) or 1
        for i, row in enumerate(matrix):
            for j, count in enumerate(row):
                if count:
                    axes.text(j, i, count, ha="center", va="center", fontsize=8, color="white" if count > peak / 2 else "black")
    axes.set_title(title)
    return figure


def _text_width_inches(text: str, size_points: float) -> float:
    width, _, _ = text_to_path.get_text_width_height_descent(text, FontProperties(size=size_points), ismath=False)
    return width / 72


# The guesses' colours: the best bar stands out; faded when the photo is not one of the model's landmarks.
GUESS_COLOURS = ("#2b7bba", "#9ecae1")
FADED_COLOURS = ("#9e9e9e", "#d9d9d9")
FADED_TEXT = "#888888"
# The known-score gauge is filled in the best guess's blue when the photo passes the threshold, else in red.
BELOW_THRESHOLD = "#c0392b"
GAUGE_TRACK = "#e6e6e6"


def _percent_pair(value: float, limit: float) -> tuple[str, str]:
    """Two fractions in whole percent, or with one decimal where whole percents would look equal but are not."""
    whole = f"{value:.0%}", f"{limit:.0%}"
    return (f"{value:.1%}", f"{limit:.1%}") if whole[0] == whole[1] and value != limit else whole


def top_k_bars(
    labels: Sequence[str],
    probabilities: Sequence[float],
    title: str = "",
    *,
    known_score: float | None = None,
    threshold: float = 0.0,
    is_unknown: bool = False,
) -> Figure:
    """Horizontal bars in percent, best on top.

    With `known_score`, a gauge above the bars draws it against `threshold`: the rule that decides whether the
    photo is one of the model's landmarks at all is on that score, not on the top probability. `is_unknown` fades
    the bars to grey, since they are then only the closest of the landmarks the model knows.

    Drawn on every photo the page classifies, so the margins come from the labels' measured widths rather
    than from `tight_layout`, which renders the whole figure once more to find them (chart + PNG p50 58-61 ms
    -> 40-43 ms on 2 cores).
    """
    # Heights in inches, from the bottom: x tick labels and the x label, the bars, the title, the gauge.
    bottom, bars_height = 0.55, 0.45 * len(labels) + 0.25
    title_height = 0.4 if title else 0.15
    gauge_height = 0.0 if known_score is None else 0.65
    width, height = 6.0, bottom + bars_height + title_height + gauge_height
    figure = Figure(figsize=(width, height))
    tick_size = FontProperties(size=rcParams["ytick.labelsize"]).get_size_in_points()
    left = max((_text_width_inches(label, tick_size) for label in labels), default=0.0) + 0.25
    bars_width = width - left - 0.15
    axes = figure.add_axes((left / width, bottom / height, bars_width / width, bars_height / height))

    rows = range(len(labels))[::-1]
    percent = [100 * p for p in probabilities]
    best, rest = FADED_COLOURS if is_unknown else GUESS_COLOURS
    bars = axes.barh(rows, percent, color=[best] + [rest] * (len(labels) - 1))
    axes.set_yticks(rows, labels)
    text_colour = FADED_TEXT if is_unknown else rcParams["text.color"]
    axes.tick_params(axis="y", labelcolor=text_colour)
    axes.bar_label(bars, labels=[f"{p:.1f}%" for p in percent], padding=3, fontsize=9, color=text_colour)
    axes.set_xlim(0, 115)
    axes.set_xlabel("probability (%)")
    axes.spines[["top", "right"]].set_visible(False)
    if title:
        # From the figure's left edge, as the gauge's caption: long labels leave the bars too little room for it.
        axes.set_title(title, loc="left", x=-(left - 0.15) / bars_width, color=text_colour)

    if known_score is not None:
        # Across the whole width, apart from the bars: its scale is not theirs.
        gauge_bottom = bottom + bars_height + title_height + 0.1
        gauge = figure.add_axes((0.15 / width, gauge_bottom / height, 1 - 0.3 / width, 0.2 / height))
        gauge.barh([0], [100], height=1.0, color=GAUGE_TRACK)
        gauge.barh([0], [100 * known_score], height=1.0, color=BELOW_THRESHOLD if is_unknown else GUESS_COLOURS[0])
        gauge.axvline(100 * threshold, color="#333333", linewidth=2)
        gauge.set_xlim(0, 100)
        gauge.set_ylim(-0.5, 0.5)
        gauge.set_axis_off()
        score, needs = _percent_pair(known_score, threshold)
        gauge.set_title(f"looks like one of my landmarks: {score} (needs {needs})", loc="left", fontsize=10, pad=5)
    return figure
