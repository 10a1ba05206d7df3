"""The Gradio page: layout and event handlers.

The thinking happens in landmark_core.inference; this module only turns its plain answers into a chart,
words and tables, and turns every failure into a message on the page (never a stack trace).

Events that take the uploaded photo run with `preprocess=False`: Gradio then hands us the uploaded file
untouched (its own preprocessing would open it with PIL first and fail with a generic error on a bad file),
and we decode it with landmark_core.images, which applies EXIF orientation and explains any bad file.
Gradio still checks that the path is a file this server received as an upload.
"""

from __future__ import annotations

import atexit
import functools
import logging
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gradio as gr

from landmark_core import inference, plots
from landmark_core.images import ImageError
from landmark_core.inference import LoadedModel, ModelFileError
from landmark_core.places import load_places
from landmark_core.samples import Sample

log = logging.getLogger("landmark_lens")

DEFAULT_K = 5
# A batch runs on one of the few workers; this keeps one user's upload from holding it for minutes.
MAX_BATCH_FILES = 300
PLACES_TOTAL = 50
RESULT_HEADERS = ["File", "Landmark", "Probability", "Place", "Map", "Note"]

CSS = """
#model-banner { border: 1px solid #e0a800; background: #fff8e1; border-radius: 8px; padding: 8px 14px; color: #5d4600; }
#winner h3 { margin-top: 0; }
"""


@dataclass(frozen=True)
class ModelSlot:
    """One of the two models: loaded, or the reason it is not (which names the file and the rebuild command)."""

    name: str
    model: LoadedModel | None
    error: str | None

    @property
    def label(self) -> str:
        """The model switcher's label, e.g. 'Transfer (EfficientNet-Lite0) — 99.3% test'."""
        if self.model is None:
            return f"{self.name.capitalize()} — unavailable"
        accuracy = self.model.card.get("test_accuracy")
        return f"{self.model.title} — {accuracy:.1%} test" if isinstance(accuracy, (int, float)) else self.model.title


def load_slots(model_dir: str | Path) -> dict[str, ModelSlot]:
    """Both models, eagerly: each loads in well under a second, and a broken file is reported at start."""
    slots = {}
    for name in inference.MODEL_NAMES:
        try:
            slots[name] = ModelSlot(name, inference.load_model(model_dir, name), None)
        except ModelFileError as error:
            log.warning("%s", error)
            slots[name] = ModelSlot(name, None, str(error))
    return slots


def _uploaded_path(image: Any) -> str | None:
    """The server-side path of an image input that skipped preprocessing (a FileData dict), if any."""
    if isinstance(image, dict) and isinstance(image.get("path"), str):
        return image["path"]
    return None


def _percent(probability: float) -> str:
    return f"{probability:.1%}"


def winner_markdown(prediction: inference.Prediction, model: LoadedModel) -> str:
    best = prediction.best
    if prediction.is_unknown:
        return (
            "### 🤔 Not one of my landmarks\n\n"
            f"My best guess is **{best['label']}**, but only at {_percent(best['probability'])}: below the "
            f"{prediction.unknown_threshold:.0%} I need to be sure. I know {len(model.class_names)} landmarks; "
            "the chart shows the closest ones."
        )
    place = best["place"]
    if place is None:
        return f"### 📍 {best['label']} — {_percent(best['probability'])}"
    return (
        f"### 📍 {place['name']} — {_percent(best['probability'])}\n\n"
        f"{place['region']}, {place['country']} · [Open in OpenStreetMap]({place['map_url']})"
    )


def chart(prediction: inference.Prediction, model: LoadedModel):
    top = prediction.top
    return plots.top_k_bars(
        [guess["label"] for guess in top],
        [guess["probability"] for guess in top],
        f"{model.title} · top {len(top)}",
        threshold=prediction.unknown_threshold,
    )


def facts_markdown(slot: ModelSlot) -> str:
    """Everything the card says that a user should know before trusting an answer."""
    if slot.model is None:
        return f"**Not available.** {slot.error}"
    card, classes = slot.model.card, slot.model.class_names
    lines = [f"**Knows {len(classes)} landmarks:** {', '.join(classes)}."]
    if isinstance(card.get("test_accuracy"), (int, float)):
        top3 = f", {card['top3_accuracy']:.1%} top-3" if isinstance(card.get("top3_accuracy"), (int, float)) else ""
        lines.append(f"**Test accuracy:** {card['test_accuracy']:.1%} top-1{top3} on {card.get('n_test', '?')} test photos.")
    per_class = card.get("per_class_accuracy") or {}
    if per_class:
        table = ["| Landmark | Test accuracy |", "|---|---:|"] + [f"| {name} | {value:.1%} |" for name, value in per_class.items()]
        lines.append("\n".join(table))
    if card.get("trained_on"):
        lines.append(f"**Trained on:** {card['trained_on']}")
    training = [f"{card['epochs']} epochs" if "epochs" in card else "", f"seed {card['seed']}" if "seed" in card else ""]
    if card.get("train_seconds") is not None:
        training.append(f"{card['train_seconds'] / 60:.1f} min")
    if card.get("params"):
        training.append(f"{card['params'] / 1e6:.1f} M parameters")
    if card.get("file_bytes"):
        training.append(f"{card['file_bytes'] / 2**20:.1f} MB file")
    lines.append(f"**Model:** {card.get('architecture', slot.model.title)}; {', '.join(t for t in training if t)}.")
    if card.get("latency_ms_p50") is not None:
        lines.append(
            f"**Latency:** {card['latency_ms_p50']:.0f} ms median, {card.get('latency_ms_p95', 0):.0f} ms p95 "
            f"({card.get('latency_measured_as', 'one photo')})."
        )
    lines.append(
        f"**Unsure below:** {slot.model.unknown_threshold:.0%} top-1 probability, the app answers "
        "\"not one of my landmarks\"."
    )
    lines.append(f"**Rebuild it:** `{slot.model.command}`")
    if len(classes) < PLACES_TOTAL:
        missing = sorted(set(load_places()) - set(classes))
        lines.append(
            f"> ⚠️ This model knows only {len(classes)} of the {PLACES_TOTAL} landmarks. "
            f"It cannot recognise: {', '.join(missing)}.\n>\n"
            f"> To train it on the full set (downloads the 50-class Udacity dataset): `python train_{slot.name}.py --download`"
        )
    return "\n\n".join(lines)


class LandmarkLens:
    """The app's state (models, samples, a scratch folder for CSV downloads) and its event handlers."""

    def __init__(self, model_dir: str | Path, samples: list[Sample]):
        self.model_dir = Path(model_dir).resolve()
        self.slots = load_slots(self.model_dir)
        self.samples = samples

    # --- state -------------------------------------------------------------------------------------------

    @property
    def default_model(self) -> str:
        """The better model when it loaded (transfer), else whichever did."""
        for name in ("transfer", "scratch"):
            if self.slots[name].model is not None:
                return name
        return "transfer"

    @functools.cached_property
    def download_dir(self) -> Path:
        """Where batch CSVs are written before Gradio copies them to its cache; made on first use, removed at exit."""
        folder = Path(tempfile.mkdtemp(prefix="landmark-lens-"))
        atexit.register(shutil.rmtree, folder, ignore_errors=True)
        return folder

    def warm_up(self) -> None:
        """Warm every loaded model (see inference.warm_up); meant for a background thread after launch."""
        for slot in self.slots.values():
            if slot.model is not None:
                inference.warm_up(slot.model)

    def banner(self) -> str:
        errors = [slot.error for slot in self.slots.values() if slot.error]
        if not errors:
            return ""
        serving = [slot.model.title for slot in self.slots.values() if slot.model is not None]
        status = f"Serving {' and '.join(serving)} only." if serving else "No model can answer until one is rebuilt."
        return "⚠️ **" + status + "**\n\n" + "\n".join(f"- {error}" for error in errors)

    def plot_files(self, name: str) -> list[Path]:
        """The training curves and confusion matrix drawn beside a model file, when present."""
        return [p for p in (self.model_dir / f"{name}_curves.png", self.model_dir / f"{name}_confusion.png") if p.is_file()]

    def allowed_paths(self) -> list[str]:
        """Exactly the files the page shows from disk: the sample photos and the models' plots (never a .pt)."""
        files = [sample.path for sample in self.samples] + [p for name in self.slots for p in self.plot_files(name)]
        return [str(Path(file).resolve()) for file in files]

    def model(self, name: Any) -> LoadedModel:
        slot = self.slots.get(name) if isinstance(name, str) else None
        if slot is None:
            raise gr.Error(f"Unknown model {name!r}: choose one of {', '.join(self.slots)}.", title="Unknown model", print_exception=False)
        if slot.model is None:
            raise gr.Error(slot.error, title="Model unavailable", print_exception=False)
        return slot.model

    # --- handlers ----------------------------------------------------------------------------------------

    def api_predict(self, image: Any, model_name: str, k: float) -> dict:
        """Classify one photo. Returns {"model", "top": [{"label", "probability", "index", "place"}], "is_unknown",
        "unknown_threshold", "milliseconds"}; a bad photo or an unavailable model raises an error with a message."""
        model = self.model(model_name)
        path = _uploaded_path(image)
        if path is None:
            raise gr.Error("No photo received: send an image file.", title="No photo", print_exception=False)
        try:
            return inference.predict(model, path, inference.clamp_k(model, k)).to_json()
        except ImageError as error:
            raise gr.Error(str(error), title="Can't use this photo", print_exception=False) from None

    def classify(self, image: Any, model_name: str, k: float, show_heatmap: bool):
        """The Classify tab: chart, the winner in words, latency, optional heatmap, and the API's JSON."""
        cleared = (None, "", "", gr.Image(value=None, visible=bool(show_heatmap)), None)
        path = _uploaded_path(image)
        if path is None:
            return cleared
        try:
            model = self.model(model_name)
            prediction = inference.predict(model, path, inference.clamp_k(model, k))
            latency = f"⏱️ {prediction.milliseconds:.0f} ms to decode and classify on this server's CPU"
            overlay = None
            if show_heatmap:
                started = time.perf_counter()
                overlay = inference.heatmap_overlay(model, inference.display_image(path), prediction.best["index"])
                latency += f"; heatmap {1000 * (time.perf_counter() - started):.0f} ms"
            return (
                chart(prediction, model),
                winner_markdown(prediction, model),
                latency + ".",
                gr.Image(value=overlay, visible=bool(show_heatmap)),
                prediction.to_json(),
            )
        except (ImageError, gr.Error) as error:
            message = error.message if isinstance(error, gr.Error) else str(error)
            gr.Warning(message, title="Can't classify this photo")
            return (None, f"**Can't classify this photo.** {message}", *cleared[2:])
        except Exception:
            log.exception("classify failed")
            gr.Warning("Something went wrong on our side; please try another photo.", title="Error")
            return cleared

    def switch_model(self, model_name: str, k: float):
        """A model may know fewer classes than the other: keep k within what it knows."""
        slot = self.slots.get(model_name)
        classes = len(slot.model.class_names) if slot and slot.model else PLACES_TOTAL
        return gr.Slider(maximum=classes, value=max(1, min(int(k or DEFAULT_K), classes)))

    def compare(self, image: Any):
        """Both models' top-k for one photo, side by side: (plot, words) per model."""
        path = _uploaded_path(image)
        outputs: list[Any] = []
        for slot in self.slots.values():
            if path is None:
                outputs += [None, ""]
            elif slot.model is None:
                outputs += [None, f"**Not available.** {slot.error}"]
            else:
                try:
                    prediction = inference.predict(slot.model, path, min(DEFAULT_K, len(slot.model.class_names)))
                    outputs += [chart(prediction, slot.model), winner_markdown(prediction, slot.model)]
                except ImageError as error:
                    gr.Warning(str(error), title="Can't classify this photo")
                    return [None, f"**Can't classify this photo.** {error}"] * len(self.slots)
                except Exception:
                    log.exception("compare failed")
                    outputs += [None, "**Something went wrong on our side.**"]
        return outputs

    def tag(self, files: list[str] | None, model_name: str, progress=gr.Progress()):
        """Batch tagging: a table row per file (bad files get their error) and the same rows as CSV."""
        if not files:
            return None, None, ""
        try:
            model = self.model(model_name)
        except gr.Error as error:
            gr.Warning(error.message, title="Model unavailable")
            return None, None, f"**Can't tag:** {error.message}"
        skipped = max(0, len(files) - MAX_BATCH_FILES)
        rows = inference.tag_batch(model, progress.tqdm(files[:MAX_BATCH_FILES], desc="tagging"))
        # A folder per batch, so concurrent users never share a file and the download keeps a plain name.
        csv_file = inference.write_csv(rows, Path(tempfile.mkdtemp(dir=self.download_dir)) / "landmark_tags.csv")
        table = [
            [
                row.file,
                row.landmark,
                "" if row.probability is None else _percent(row.probability),
                row.place,
                f"[map]({row.map_url})" if row.map_url else "",
                row.note,
            ]
            for row in rows
        ]
        failed = sum(1 for row in rows if row.probability is None)
        summary = f"Tagged {len(rows) - failed} of {len(rows)} files with {model.title}."
        if failed:
            summary += f" {failed} could not be read (see Note)."
        if skipped:
            summary += f" {skipped} more were skipped: at most {MAX_BATCH_FILES} files per batch."
        return table, str(csv_file), summary

    def pick_sample(self, event: gr.SelectData) -> str | None:
        """A gallery click -> that sample's file as the photo (looked up here, never a path from the page)."""
        index = event.index if isinstance(event.index, int) else -1
        return str(self.samples[index].path) if 0 <= index < len(self.samples) else None

    # --- layout ------------------------------------------------------------------------------------------

    def build(self) -> gr.Blocks:
        # No analytics: the app must start fast and work on machines without internet.
        # delete_cache: uploads and results older than 2 h are removed every hour.
        with gr.Blocks(title="Landmark Lens", analytics_enabled=False, delete_cache=(3600, 7200)) as demo:
            gr.Markdown(
                "# 🏛️ Landmark Lens\n"
                "Which famous landmark is in your photo? Upload one, paste it, take it with your webcam, "
                "or click a sample below."
            )
            banner = self.banner()
            gr.Markdown(banner, elem_id="model-banner", visible=bool(banner))
            choices = [(slot.label, name) for name, slot in self.slots.items()]
            default = self.slots[self.default_model]
            classes = len(default.model.class_names) if default.model else PLACES_TOTAL

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
                        model_radio = gr.Radio(choices, value=self.default_model, label="Model", elem_id="model-radio")
                        k_slider = gr.Slider(1, classes, value=min(DEFAULT_K, classes), step=1, label="How many guesses to show (k)", elem_id="top-k-slider")
                        heatmap_box = gr.Checkbox(False, label="Show what the model looked at (heatmap)", elem_id="heatmap-checkbox")
                    with gr.Column(scale=1):
                        winner = gr.Markdown(elem_id="winner")
                        plot = gr.Plot(label="Top guesses", format="png", elem_id="top-k-plot")
                        latency = gr.Markdown(elem_id="latency")
                        heatmap = gr.Image(label="What the model looked at", visible=False, interactive=False, height=360, elem_id="heatmap-image")
                gallery = gr.Gallery(
                    [(str(sample.path), sample.caption) for sample in self.samples],
                    label="Sample photos: click one to classify it",
                    columns=8,
                    height=260,
                    allow_preview=False,
                    interactive=False,
                    elem_id="sample-gallery",
                    visible=bool(self.samples),
                )
                with gr.Accordion("The same answer as JSON (what the API returns)", open=False):
                    result_json = gr.JSON(elem_id="result-json")
                for name, slot in self.slots.items():
                    with gr.Accordion(f"Model facts: {slot.label}", open=False, elem_id=f"facts-{name}"):
                        gr.Markdown(facts_markdown(slot))
                        for picture in self.plot_files(name):
                            gr.Image(str(picture), show_label=False, interactive=False, buttons=["fullscreen"])

            with gr.Tab("Compare models", elem_id="tab-compare"):
                gr.Markdown(f"One photo, both models' top {DEFAULT_K}.")
                compare_photo = gr.Image(label="Photo to compare on", type="filepath", image_mode=None, sources=["upload", "clipboard", "webcam"], height=300, elem_id="compare-image")
                compare_outputs: list[Any] = []
                with gr.Row():
                    for name, slot in self.slots.items():
                        with gr.Column():
                            gr.Markdown(f"#### {slot.label}")
                            compare_outputs.append(gr.Plot(format="png", show_label=False, elem_id=f"compare-plot-{name}"))
                            compare_outputs.append(gr.Markdown(elem_id=f"compare-winner-{name}"))

            with gr.Tab("Batch tagging", elem_id="tab-batch"):
                gr.Markdown(
                    f"Tag many photos at once with the model chosen on the Classify tab (up to {MAX_BATCH_FILES} files). "
                    "Files that are not usable photos get a note instead of a tag."
                )
                batch_files = gr.File(file_count="multiple", label="Photos", elem_id="batch-files")
                batch_summary = gr.Markdown(elem_id="batch-summary")
                batch_table = gr.Dataframe(
                    headers=RESULT_HEADERS,
                    datatype=["str", "str", "str", "str", "markdown", "str"],
                    interactive=False,
                    wrap=True,
                    elem_id="batch-table",
                )
                batch_csv = gr.File(label="Download as CSV", interactive=False, elem_id="batch-csv")

            # The public API: one photo in, plain JSON out. No page trigger of its own (the page's events
            # below show the same JSON); `gr.on([])` makes an endpoint that only clients call.
            # Every event that runs a model shares one concurrency group, so the queue's limit (set at launch)
            # bounds all model work together rather than each event separately.
            model_work = dict(concurrency_id="model")
            gr.on(
                [],
                self.api_predict,
                [photo, model_radio, k_slider],
                result_json,
                api_name="predict",
                preprocess=False,
                **model_work,
            )
            page_outputs = [plot, winner, latency, heatmap, result_json]
            classify_inputs = [photo, model_radio, k_slider, heatmap_box]
            private = dict(api_visibility="private", preprocess=False, **model_work)
            photo.change(self.classify, classify_inputs, page_outputs, **private)
            k_slider.release(self.classify, classify_inputs, page_outputs, **private)
            heatmap_box.input(self.classify, classify_inputs, page_outputs, **private)
            model_radio.input(self.switch_model, [model_radio, k_slider], k_slider, api_visibility="private").then(
                self.classify, classify_inputs, page_outputs, **private
            )
            gallery.select(self.pick_sample, None, photo, api_visibility="private")
            compare_photo.change(self.compare, compare_photo, compare_outputs, **private)
            batch_files.upload(
                self.tag, [batch_files, model_radio], [batch_table, batch_csv, batch_summary], api_name="tag", **model_work
            )
        return demo
