"""The Compare tab: one photo, both models side by side (and, once the visitor taught one, a taught model as a
third), each with its decision (a landmark, or "not one of mine"), its chart, and a line saying whether they
agree."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import gradio as gr
from matplotlib.figure import Figure

from landmark_core import inference
from landmark_core.images import ImageError
from landmark_core.ui.answers import DEFAULT_K, chart, decision, winner_markdown
from landmark_core.model_files import LoadedModel
from landmark_core.ui.lens import PAGE_MODEL_WORK, LandmarkLens, uploaded_path
from landmark_core.ui.session import TaughtModels

log = logging.getLogger("landmark_lens")


@dataclass(frozen=True)
class Side:
    """One model's column; `decision` is its answer in a few words, when it gave one."""

    chart: Figure | None = None
    words: str = ""
    decision: str | None = None
    title: str = ""


TAUGHT_SIDE = "taught"


def compared_models(lens: LandmarkLens, taught: LoadedModel | None) -> dict[str, LoadedModel | str]:
    """The models to compare by side: each shipped one (or why it is unavailable), then the taught one if any."""
    models: dict[str, LoadedModel | str] = {name: slot.model or str(slot.error) for name, slot in lens.slots.items()}
    if taught is not None:
        models[TAUGHT_SIDE] = taught
    return models


def compare(lens: LandmarkLens, image: Any, taught: LoadedModel | None = None) -> dict[str, Side]:
    """Each model's answer to the photo, by side; an unusable photo is one message for every side."""
    models = compared_models(lens, taught)
    path = uploaded_path(image)
    if path is None:
        return {name: Side() for name in models}
    sides = {}
    for name, model in models.items():
        if isinstance(model, str):
            sides[name] = Side(words=f"**Not available.** {model}")
            continue
        try:
            prediction = inference.predict(model, path, min(DEFAULT_K, len(model.class_names)))
            sides[name] = Side(chart(prediction, model), winner_markdown(prediction, model), decision(prediction), model.title)
        except ImageError as error:
            gr.Warning(str(error), title="Can't classify this photo")
            return {name: Side(words=f"**Can't classify this photo.** {error}") for name in models}
        except Exception:
            log.exception("compare failed")
            sides[name] = Side(words="**Something went wrong on our side.**")
    return sides


def verdict_markdown(sides: dict[str, Side]) -> str:
    """Whether the models agree, once every one answered."""
    decided = [side for side in sides.values() if side.decision is not None]
    if len(decided) < len(sides):
        return ""
    if len({side.decision for side in decided}) == 1:
        return f"**{'Both' if len(decided) == 2 else f'All {len(decided)}'} models say:** {decided[0].decision}"
    return "**The models disagree:** " + " · ".join(f"{side.title}: {side.decision}" for side in decided)


def build_compare_tab(lens: LandmarkLens, taught_state: gr.State) -> tuple[gr.Column, gr.Dropdown]:
    """The tab; returns the taught model's column, hidden until the Teach tab shows it, and its choice of model."""
    with gr.Tab("Compare models", elem_id="tab-compare"):
        gr.Markdown(f"One photo, both models' top {DEFAULT_K}; a model you taught joins them as a third.")
        photo = gr.Image(
            label="Photo to compare on", type="filepath", image_mode=None, sources=["upload", "clipboard", "webcam"], height=300, elem_id="compare-image"
        )
        verdict = gr.Markdown(elem_id="compare-verdict")
        plots, words = {}, {}
        with gr.Row():
            for name, slot in lens.slots.items():
                with gr.Column():
                    gr.Markdown(f"#### {slot.label}")
                    plots[name] = gr.Plot(format="png", show_label=False, elem_id=f"compare-plot-{name}")
                    words[name] = gr.Markdown(elem_id=f"compare-winner-{name}")
            with gr.Column(visible=False) as taught_column:
                taught_choice = gr.Dropdown([], label="Your taught model", elem_id="compare-taught-choice")
                plots[TAUGHT_SIDE] = gr.Plot(format="png", show_label=False, elem_id="compare-plot-taught")
                words[TAUGHT_SIDE] = gr.Markdown(elem_id="compare-winner-taught")

    @gr.on([photo.change, taught_choice.input], inputs=[photo, taught_choice, taught_state], outputs=[verdict, *plots.values(), *words.values()], **PAGE_MODEL_WORK)
    def show_all(image: Any, taught_name: str | None, taught: TaughtModels) -> dict:
        sides = compare(lens, image, taught.models.get(taught_name) if taught_name else None)
        shown = {TAUGHT_SIDE: Side(), **sides}  # an empty taught side clears it
        return {
            verdict: verdict_markdown(sides),
            **{plots[name]: side.chart for name, side in shown.items()},
            **{words[name]: side.words for name, side in shown.items()},
        }

    return taught_column, taught_choice
