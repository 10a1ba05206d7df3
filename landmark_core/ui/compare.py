"""The Compare tab: one photo, both models side by side, each with its decision (a landmark, or "not one of
mine"), its chart, and a line saying whether they agree."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import gradio as gr
from matplotlib.figure import Figure

from landmark_core import inference
from landmark_core.images import ImageError
from landmark_core.ui.answers import DEFAULT_K, chart, decision, winner_markdown
from landmark_core.ui.lens import PAGE_MODEL_WORK, LandmarkLens, uploaded_path

log = logging.getLogger("landmark_lens")


@dataclass(frozen=True)
class Side:
    """One model's column; `decision` is its answer in a few words, when it gave one."""

    chart: Figure | None = None
    words: str = ""
    decision: str | None = None


def compare(lens: LandmarkLens, image: Any) -> dict[str, Side]:
    """Each model's answer to the photo, by model name; an unusable photo is one message for both sides."""
    path = uploaded_path(image)
    if path is None:
        return {name: Side() for name in lens.slots}
    sides = {}
    for name, slot in lens.slots.items():
        if slot.model is None:
            sides[name] = Side(words=f"**Not available.** {slot.error}")
            continue
        try:
            prediction = inference.predict(slot.model, path, min(DEFAULT_K, len(slot.model.class_names)))
            sides[name] = Side(chart(prediction, slot.model), winner_markdown(prediction, slot.model), decision(prediction))
        except ImageError as error:
            gr.Warning(str(error), title="Can't classify this photo")
            return {name: Side(words=f"**Can't classify this photo.** {error}") for name in lens.slots}
        except Exception:
            log.exception("compare failed")
            sides[name] = Side(words="**Something went wrong on our side.**")
    return sides


def verdict_markdown(lens: LandmarkLens, sides: dict[str, Side]) -> str:
    """Whether the models agree, once both answered."""
    decided = {name: side.decision for name, side in sides.items() if side.decision is not None}
    if len(decided) < len(lens.slots):
        return ""
    if len(set(decided.values())) == 1:
        return f"**Both models say:** {next(iter(decided.values()))}"
    return "**The models disagree:** " + " · ".join(f"{lens.slots[name].model.title}: {said}" for name, said in decided.items())


def build_compare_tab(lens: LandmarkLens) -> None:
    with gr.Tab("Compare models", elem_id="tab-compare"):
        gr.Markdown(f"One photo, both models' top {DEFAULT_K}.")
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

    @photo.change(inputs=photo, outputs=[verdict, *plots.values(), *words.values()], **PAGE_MODEL_WORK)
    def show_both(image: Any) -> dict:
        sides = compare(lens, image)
        return {
            verdict: verdict_markdown(lens, sides),
            **{plots[name]: side.chart for name, side in sides.items()},
            **{words[name]: side.words for name, side in sides.items()},
        }
