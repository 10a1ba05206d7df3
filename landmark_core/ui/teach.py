"""The "Teach a landmark" tab and the public `/teach` endpoint: a name and 5-50 photos (uploads or webcam shots)
in; out, within seconds, "Transfer + <name>": the transfer model that also knows that landmark, for this visitor
only (ui/session.py), with what teaching measured and the model's files to download. The thinking happens in
landmark_core.teaching.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Callable

import gradio as gr

from landmark_core import images, teaching
from landmark_core.images import ImageError
from landmark_core.teaching import MAX_PHOTOS, MIN_PHOTOS, Taught, TeachingError
from landmark_core.ui.answers import known_landmarks_markdown
from landmark_core.ui.lens import MODEL_WORK, LandmarkLens
from landmark_core.ui.session import MAX_TAUGHT, TaughtModels, delete_uploads

log = logging.getLogger("landmark_lens")


def file_paths(files: Any) -> list[str]:
    """A File input's value (paths, or FileData dicts from a client) -> server-side paths."""
    paths = []
    for file in files or []:
        path = file.get("path") if isinstance(file, dict) else file
        if isinstance(path, str):
            paths.append(path)
    return paths


def teach_from_files(
    lens: LandmarkLens, taught: TaughtModels, name: Any, paths: list[str], uploaded: set[str]
) -> tuple[Taught, str | None]:
    """Teach the landmark and keep the model in `taught`; returns it and the name of a model dropped to make room.
    The photos among `paths` that the server received as uploads (`uploaded`) are then deleted.

    Any problem -> TeachingError with a message for the visitor, and nothing changed.
    """
    try:
        base = lens.model("transfer")
    except gr.Error as error:
        raise TeachingError(f"Teaching builds on the transfer model, which is unavailable: {error.message}") from None
    features = lens.teaching_features
    landmark = teaching.check_request(name, len(paths), base.class_names)
    visitors_files = [path for path in paths if path in uploaded]
    photos = []
    for path in paths:
        try:
            photos.append(images.load_tensor(path, base.predictor.resize_size))
        except ImageError as error:
            taught.uploads.extend(visitors_files)  # deleted with the session if the visitor gives up
            raise TeachingError(f"{Path(path).name}: {error}") from None
    result = teaching.teach(base.predictor, base.card, features, landmark, photos)
    dropped = taught.add(result)
    delete_uploads(visitors_files)  # the photos are now features in a head; no copy of them stays on disk
    uploaded.difference_update(visitors_files)
    log.info("taught %s from %d photos in %.1f s", result.name, len(photos), result.figures["seconds"])
    return result, dropped


def figures_markdown(result: Taught, dropped: str | None) -> str:
    """What teaching measured, in words."""
    figures = result.figures
    lines = [f"### ✅ Taught: {result.name}", f"From {figures['photos']} photos ({figures['augmented_views']} augmented views each) in {figures['seconds']:.1f} s."]
    if figures["held_out_photos"]:
        held_out = figures["held_out_photos"]
        lines.append(
            f"**Check:** taught without {held_out} of your photos (every {teaching.HOLD_OUT_EVERY}th), it recognised "
            f"{figures['held_out_recognised']} of {'them' if held_out > 1 else 'it'}."
        )
    lines.append(
        f"**The landmarks it already knew:** {figures['known_validation_accuracy']:.1%} of their validation photos still "
        f"answered right; {figures['known_validation_accepted']:.1%} accepted as known."
    )
    if figures.get("validation_landmarks_rejected") is not None:
        lines.append(f"**Other landmarks** (validation photos): {figures['validation_landmarks_rejected']:.1%} still answered \"not one of mine\".")
    lines.append("It is now in the model switcher on the Classify tab (chosen there), in Compare and in the API, for this browser session only.")
    if dropped:
        lines.append(f"To stay within {MAX_TAUGHT} taught models per session, {dropped} was dropped.")
    return "\n\n".join(lines)


def build_teach_tab(
    lens: LandmarkLens,
    taught_state: gr.State,
    classify: tuple[gr.Radio, gr.Slider, gr.Markdown],
    compare_taught: tuple[gr.Column, gr.Dropdown],
    uploaded: set[str],
) -> Callable[[gr.Request], None]:
    """The tab and its `/teach` endpoint. A taught model is chosen on the Classify tab (`classify`: the model
    switcher, the k slider, the list of known landmarks) and offered on the Compare tab (`compare_taught`);
    `uploaded` is the page's set of files it received as uploads (Blocks.upload_file_set).

    Returns what to run when a visitor's session ends (Blocks.unload): it deletes that session's taught models and
    files at once, rather than an hour later when Gradio drops the session's state."""
    sessions: dict[str, TaughtModels] = {}  # session hash -> its taught models, for that cleanup
    model_radio, k_slider, known_landmarks = classify
    compare_column, compare_choice = compare_taught
    with gr.Tab("Teach a landmark", elem_id="tab-teach"):
        gr.Markdown(
            f"Teach the transfer model a landmark it does not know, from {MIN_PHOTOS} to {MAX_PHOTOS} photos of it: "
            "within seconds, **Transfer + your landmark** joins the model switcher. It is yours only: nobody else sees it, "
            f"and it is gone when you close the page (at most {MAX_TAUGHT} at a time). Your photos are not kept."
        )
        with gr.Row():
            with gr.Column():
                name_box = gr.Textbox(label="Landmark name", max_length=teaching.MAX_NAME_LENGTH, placeholder="e.g. Sydney Opera House", elem_id="teach-name")
                files = gr.File(file_count="multiple", file_types=["image"], label=f"{MIN_PHOTOS}-{MAX_PHOTOS} photos of it", elem_id="teach-files")
                with gr.Accordion("Or take them with your webcam", open=False):
                    webcam = gr.Image(sources=["webcam"], type="filepath", label="Take a photo: each shot is added", elem_id="teach-webcam")
                    shots_note = gr.Markdown()
                button = gr.Button("Teach it", variant="primary", elem_id="teach-button")
            with gr.Column():
                status = gr.Markdown(elem_id="teach-status")
                taught_name = gr.Textbox(label="Taught model", interactive=False, elem_id="teach-model-name")
                download = gr.File(label="Download it (TorchScript predictor + card)", interactive=False, visible=False, elem_id="teach-download")
                with gr.Accordion("What teaching measured (JSON, as the API returns it)", open=False):
                    figures_json = gr.JSON(elem_id="teach-figures")
    shots = gr.State([])

    @webcam.change(inputs=[webcam, shots], outputs=[shots, shots_note], api_visibility="private")
    def add_shot(shot: str | None, taken: list[str]) -> tuple[list[str], str]:
        taken = taken + [shot] if shot else taken
        return taken, f"{len(taken)} webcam shot{'' if len(taken) == 1 else 's'} will be used." if taken else ""

    def remember(taught: TaughtModels, request: gr.Request | None) -> None:
        if request is not None and request.session_hash:
            sessions[request.session_hash] = taught

    def end_session(request: gr.Request) -> None:
        taught = sessions.pop(request.session_hash, None) if request.session_hash else None
        if taught is not None:
            taught.close()

    def api_teach(name: str, photos: Any, taught: TaughtModels, request: gr.Request) -> tuple[str, dict]:
        """Teach the transfer model a landmark from 5-50 photos. Returns (the new model's name, what teaching measured);
        later `/predict` calls from the same client can pass that model name."""
        remember(taught, request)
        try:
            result, _ = teach_from_files(lens, taught, name, file_paths(photos), uploaded)
        except TeachingError as error:
            raise gr.Error(str(error), title="Can't teach this", print_exception=False) from None
        return result.name, result.figures

    gr.on(
        [], api_teach, [name_box, files, taught_state], [taught_name, figures_json], api_name="teach",
        api_description=api_teach.__doc__, **MODEL_WORK,
    )

    @button.click(
        inputs=[name_box, files, shots, taught_state],
        outputs=[
            status, taught_name, figures_json, download, model_radio, k_slider, known_landmarks, compare_column, compare_choice, files, shots, shots_note,
        ],
        api_visibility="private",
        **MODEL_WORK,
    )
    def teach_clicked(name: str, given: Any, taken: list[str], taught: TaughtModels, request: gr.Request) -> dict:
        remember(taught, request)
        try:
            result, dropped = teach_from_files(lens, taught, name, file_paths(given) + list(taken or []), uploaded)
        except TeachingError as error:
            gr.Warning(str(error), title="Can't teach this")
            return {status: f"**Can't teach this.** {error}"}
        except Exception:
            log.exception("teaching failed")
            return {status: "**Something went wrong on our side.** Please try again."}
        return {
            status: figures_markdown(result, dropped),
            taught_name: result.name,
            figures_json: result.figures,
            download: gr.File(value=taught.downloads[result.name], visible=True),
            model_radio: gr.Radio(choices=lens.model_choices(taught), value=result.name),
            k_slider: gr.Slider(maximum=len(result.predictor.class_names)),
            known_landmarks: known_landmarks_markdown(taught.models[result.name]),
            compare_column: gr.Column(visible=True),
            compare_choice: gr.Dropdown(choices=taught.names, value=result.name),
            files: None,
            shots: [],
            shots_note: "",
        }

    return end_session
