"""The Classify tab: one photo in (upload, clipboard, webcam or a gallery click), the answer out as a chart, words,
latency, an optional heatmap, the API's JSON and, for a known landmark, the photo with its location written in
(landmark_core.geotag, as `tag_photos.py --write-gps` writes it); the model switcher; the galleries; the model facts.

It also registers the public `/predict` endpoint, which answers with the same JSON as the page.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gradio as gr
from matplotlib.figure import Figure
from PIL import Image

from landmark_core import geotag, inference, model_files
from landmark_core.images import ImageError
from landmark_core.places import load_places
from landmark_core.samples import Sample
from landmark_core.ui.answers import DEFAULT_K, chart, known_landmarks_markdown, landmark_name, winner_markdown
from landmark_core.ui.facts import facts_markdown
from landmark_core.ui.lens import MODEL_WORK, PAGE_MODEL_WORK, LandmarkLens, uploaded_path
from landmark_core.ui.session import TaughtModels

log = logging.getLogger("landmark_lens")


def api_predict(lens: LandmarkLens, image: Any, model_name: str, k: float, taught: TaughtModels | None = None) -> dict:
    """Classify one photo. Returns {"model", "top": [{"label", "probability", "index", "place"}], "is_unknown",
    "known_score", "unknown_threshold", "milliseconds"}: the photo is not one of the model's landmarks when
    "is_unknown" is true (its "known_score" is below "unknown_threshold"), and "top" then lists only the closest
    ones. The model is "scratch", "transfer", or a model this client taught with `/teach`. A bad photo or an
    unavailable model raises an error with a message."""
    model = lens.model(model_name, taught)
    path = uploaded_path(image)
    if path is None:
        raise gr.Error("No photo received: send an image file.", title="No photo", print_exception=False)
    try:
        return inference.predict(model, path, inference.clamp_k(model, k)).to_json()
    except ImageError as error:
        raise gr.Error(str(error), title="Can't use this photo", print_exception=False) from None


@dataclass(frozen=True)
class Answer:
    """What the tab shows for one photo; an empty part clears its component."""

    chart: Figure | None = None
    words: str = ""
    latency: str = ""
    heatmap: Image.Image | None = None
    json: dict | None = None
    located: str | None = None  # the photo with its landmark's position in its EXIF


def located_copy(lens: LandmarkLens, path: str, prediction: inference.Prediction) -> str | None:
    """A copy of the photo with its landmark's position in its EXIF GPS (it keeps a position of its own), for the
    download button; None when the photo is none of the landmarks or not a JPEG."""
    place = prediction.best["place"]
    if prediction.is_unknown or place is None:
        return None
    # One copy per uploaded file, however often it is classified again (another k, the heatmap).
    target = lens.download_dir / hashlib.sha1(path.encode()).hexdigest()[:16] / Path(path).name
    try:
        outcome = geotag.write_gps_copy(path, target, place["latitude"], place["longitude"])
    except (geotag.GeotagError, OSError) as error:
        log.warning("no located copy of %s: %s", Path(path).name, error)
        return None
    return None if outcome == geotag.NOT_JPEG else str(target)


def answer(lens: LandmarkLens, image: Any, model_name: str, k: float, show_heatmap: bool, taught: TaughtModels | None = None) -> Answer:
    """Classify the tab's photo; a bad photo or an unavailable model becomes a message, never a trace."""
    path = uploaded_path(image)
    if path is None:
        return Answer()
    try:
        model = lens.model(model_name, taught)
        prediction = inference.predict(model, path, inference.clamp_k(model, k))
        latency = f"⏱️ {prediction.milliseconds:.0f} ms to decode and classify on this server's CPU"
        overlay = None
        if show_heatmap:
            started = time.perf_counter()
            overlay = inference.heatmap_overlay(model, inference.display_image(path), prediction.best["index"])
            latency += f"; heatmap {1000 * (time.perf_counter() - started):.0f} ms"
        located = located_copy(lens, path, prediction)
        return Answer(chart(prediction, model), winner_markdown(prediction, model), latency + ".", overlay, prediction.to_json(), located)
    except (ImageError, gr.Error) as error:
        message = error.message if isinstance(error, gr.Error) else str(error)
        gr.Warning(message, title="Can't classify this photo")
        return Answer(words=f"**Can't classify this photo.** {message}")
    except Exception:
        log.exception("classify failed")
        gr.Warning("Something went wrong on our side; please try another photo.", title="Error")
        return Answer()


def most_guesses(model: model_files.LoadedModel | None) -> int:
    """The k slider's end: every landmark the model knows (all the places while no model loaded)."""
    return len(model.class_names) if model else len(load_places())


def unknown_samples(samples: list[Sample], known: set[str]) -> list[Sample]:
    """Gallery photos of landmarks no loaded model knows (none when no model loaded: then nothing is known)."""
    return [sample for sample in samples if known and sample.landmark is not None and sample.landmark not in known]


def picked_sample(samples: list[Sample], index: Any) -> str | None:
    """A gallery click's index -> that sample's file (looked up here, never a path from the page)."""
    return str(samples[index].path) if isinstance(index, int) and 0 <= index < len(samples) else None


def sample_gallery(samples: list[Sample], captions: list[str], photo: gr.Image, **options: Any) -> gr.Gallery:
    """A gallery of `samples`; a click puts that photo into `photo`, which classifies it."""
    gallery = gr.Gallery(
        [(str(sample.path), caption) for sample, caption in zip(samples, captions)],
        allow_preview=False,
        interactive=False,
        visible=bool(samples),
        **options,
    )

    def pick(event: gr.SelectData) -> str | None:
        return picked_sample(samples, event.index)

    gallery.select(pick, None, photo, api_visibility="private")
    return gallery


def build_classify_tab(lens: LandmarkLens, known_landmarks: gr.Markdown, taught_state: gr.State) -> tuple[gr.Radio, gr.Slider]:
    """The tab, its events and the `/predict` endpoint; returns the model switcher, which the Batch tab reads, the
    Teach tab extends with this visitor's taught models, and which updates `known_landmarks` (the page's list of
    what the current model knows), and the k slider (which the Teach tab stretches to a taught model's landmarks)."""
    choices = lens.model_choices()
    classes = most_guesses(lens.slots[lens.default_model].model)
    with gr.Tab("Classify", elem_id="tab-classify"):
        with gr.Row():
            with gr.Column(scale=1):
                photo = gr.Image(
                    label="Your photo",
                    type="filepath",
                    image_mode=None,  # keep the file as uploaded: we decode it ourselves
                    sources=["upload", "clipboard", "webcam"],
                    elem_id="upload-image",
                    height=360,
                )
                model_radio = gr.Radio(choices, value=lens.default_model, label="Model", elem_id="model-radio")
                k_slider = gr.Slider(1, classes, value=min(DEFAULT_K, classes), step=1, label="How many guesses to show (k)", elem_id="top-k-slider")
                heatmap_box = gr.Checkbox(False, label="Show what the model looked at (heatmap)", elem_id="heatmap-checkbox")
            with gr.Column(scale=1):
                winner = gr.Markdown(elem_id="winner")
                located = gr.DownloadButton("Download with location", visible=False, size="sm", elem_id="download-located")
                # No label: its badge would cover the chart's own caption, which says what it shows.
                plot = gr.Plot(label="Top guesses", show_label=False, format="png", elem_id="top-k-plot")
                latency = gr.Markdown(elem_id="latency")
                heatmap = gr.Image(label="What the model looked at", visible=False, interactive=False, height=360, elem_id="heatmap-image")
        unknown = unknown_samples(lens.samples, lens.known_landmarks)
        known = [sample for sample in lens.samples if sample not in unknown]
        sample_gallery(
            known, [landmark_name(sample.caption) for sample in known], photo,
            label="Sample photos: click one to classify it", columns=8, height=260, elem_id="sample-gallery",
        )
        # Tiles as large as the gallery above, however few photos (fit_columns would widen them).
        sample_gallery(
            unknown, [f"Not one of mine: {landmark_name(sample.landmark)}" for sample in unknown], photo,
            label="Landmarks I don't know: click one to see me say so", columns=8, fit_columns=False, height=170,
            elem_id="unknown-sample-gallery",
        )
        with gr.Accordion("The same answer as JSON (what the API returns)", open=False):
            result_json = gr.JSON(elem_id="result-json")
        for name, slot in lens.slots.items():
            with gr.Accordion(f"Model facts: {slot.label}", open=False, elem_id=f"facts-{name}"):
                gr.Markdown(facts_markdown(slot))
                for picture in lens.plot_files(name):
                    gr.Image(str(picture), show_label=False, interactive=False, buttons=["fullscreen"])

    # The public API: one photo in, plain JSON out. No page trigger of its own (the page's events below show the
    # same JSON); `gr.on([])` makes an endpoint that only clients call.
    gr.on(
        [],
        functools.partial(api_predict, lens),
        [photo, model_radio, k_slider, taught_state],
        result_json,
        api_name="predict",
        api_description=api_predict.__doc__,
        preprocess=False,
        **MODEL_WORK,
    )

    answer_inputs, answer_outputs = [photo, model_radio, k_slider, heatmap_box, taught_state], [plot, winner, latency, heatmap, result_json, located]

    @gr.on([photo.change, k_slider.release, heatmap_box.input], inputs=answer_inputs, outputs=answer_outputs, **PAGE_MODEL_WORK)
    def show_answer(image: Any, model_name: str, k: float, show_heatmap: bool, taught: TaughtModels) -> dict:
        shown = answer(lens, image, model_name, k, show_heatmap, taught)
        return {
            plot: shown.chart,
            winner: shown.words,
            latency: shown.latency,
            heatmap: gr.Image(value=shown.heatmap, visible=bool(show_heatmap)),
            result_json: shown.json,
            located: gr.DownloadButton(value=shown.located, visible=bool(shown.located)),
        }

    def switch_model(model_name: str, k: float, taught: TaughtModels) -> dict:
        """The page names what this model knows, and k stays within it (a model may know fewer than the other)."""
        try:
            model = lens.model(model_name, taught)
        except gr.Error:
            model = None
        count = most_guesses(model)
        return {
            k_slider: gr.Slider(maximum=count, value=max(1, min(int(k or DEFAULT_K), count))),
            known_landmarks: known_landmarks_markdown(model),
        }

    model_radio.input(switch_model, [model_radio, k_slider, taught_state], [k_slider, known_landmarks], api_visibility="private").then(
        show_answer, answer_inputs, answer_outputs, **PAGE_MODEL_WORK
    )
    return model_radio, k_slider
