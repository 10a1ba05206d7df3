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


def top_k_bars(
    labels: Sequence[str], probabilities: Sequence[float], title: str = "", *, threshold: float | None = None
) -> Figure:
    """Horizontal bars in percent, best on top; `threshold` (0..1) draws the "unsure below here" line.

    Drawn on every photo the page classifies, so the margins come from the labels' measured widths rather
    than from `tight_layout`, which renders the whole figure once more to find them (chart + PNG p50 58-61 ms
    -> 40-43 ms on 2 cores).
    """
    width, height = 6.0, 0.45 * len(labels) + 1.2
    figure = Figure(figsize=(width, height))
    axes = figure.subplots()
    rows = range(len(labels))[::-1]
    percent = [100 * p for p in probabilities]
    bars = axes.barh(rows, percent, color=["#2b7bba"] + ["#9ecae1"] * (len(labels) - 1))
    axes.set_yticks(rows, labels)
    axes.bar_label(bars, labels=[f"{p:.1f}%" for p in percent], padding=3, fontsize=9)
    if threshold:
        axes.axvline(100 * threshold, color="#c0392b", linestyle="--", linewidth=1)
        axes.annotate(
            f"unsure below {100 * threshold:.0f}%",
            (100 * threshold, 1),
            xycoords=("data", "axes fraction"),
            xytext=(3, 2),
            textcoords="offset points",
            fontsize=8,
            color="#c0392b",
            va="bottom",
        )
    axes.set_xlim(0, 115)
    axes.set_xlabel("probability (%)")
    axes.spines[["top", "right"]].set_visible(False)
    if title:
        axes.set_title(title, loc="left", pad=14 if threshold else 6)
    # Margins in inches: the widest label plus tick and edge padding; x tick labels and the x label below;
    # the title (and the threshold note over it) above.
    tick_size = FontProperties(size=rcParams["ytick.labelsize"]).get_size_in_points()
    left = max((_text_width_inches(label, tick_size) for label in labels), default=0.0) + 0.25
    bottom, top = 0.55, (0.4 if title else 0.15) + (0.1 if threshold else 0.0)
    figure.subplots_adjust(left=left / width, right=1 - 0.15 / width, bottom=bottom / height, top=1 - top / height)
    return figure
