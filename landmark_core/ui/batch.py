"""The Batch tagging tab: many photos in, a table and a CSV out, tagged by landmark_core.tagging exactly as
`tag_photos.py` tags a library (same rows, same CSV).

A photo that is not one of the model's landmarks gets no landmark and no place, only its known score and a note
naming the closest one: the same rule as a single photo.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

import gradio as gr

from landmark_core import tagging
from landmark_core.model_files import LoadedModel
from landmark_core.tags import TagRow
from landmark_core.ui.answers import percent
from landmark_core.ui.lens import MODEL_WORK, LandmarkLens
from landmark_core.ui.session import TaughtModels

# A batch runs on one of the few workers; this keeps one user's upload from holding it for minutes.
MAX_BATCH_FILES = 300
# Photos per predictor pass; the server decodes them itself (no worker processes per request).
BATCH_SIZE = 16
RESULT_HEADERS = ["File", "Landmark", "Probability", "Known score", "Place", "Map", "Note"]


def note(row: TagRow) -> str:
    """Why a row has no landmark: the file's error, or the closest landmark of a photo that is none of them."""
    if row.error:
        return row.error
    if row.is_unknown and row.top3:
        label, probability = row.top3[0]
        return f"not one of my landmarks (closest: {label}, {probability:.0%})"
    return ""


def table_row(row: TagRow) -> list[str]:
    """A TagRow as the table shows it (RESULT_HEADERS)."""
    return [
        row.file,
        row.landmark,
        "" if row.probability is None else percent(row.probability),
        "" if row.known_score is None else percent(row.known_score),
        row.place,
        f"[map]({row.map_url})" if row.map_url else "",
        note(row),
    ]


def summary_markdown(rows: list[TagRow], model: LoadedModel, skipped: int) -> str:
    unreadable = sum(1 for row in rows if row.error)
    unknown = sum(1 for row in rows if row.is_unknown)
    text = f"Tagged {len(rows) - unreadable} of {len(rows)} files with {model.title}"
    text += f"; {unknown} {'shows' if unknown == 1 else 'show'} none of its landmarks (see Note)." if unknown else "."
    if unreadable:
        text += f" {unreadable} could not be read (see Note)."
    if skipped:
        text += f" {skipped} more were skipped: at most {MAX_BATCH_FILES} files per batch."
    return text


@dataclass(frozen=True)
class Tagged:
    """What the tab shows for one batch; empty parts clear their component."""

    table: list[list[str]] | None = None
    csv: str | None = None
    summary: str = ""


def tag(lens: LandmarkLens, files: list[str] | None, model_name: str, progress: gr.Progress, taught: TaughtModels | None = None) -> Tagged:
    """A table row per file (bad files get their error) and the same rows as CSV."""
    if not files:
        return Tagged()
    try:
        model = lens.model(model_name, taught)
    except gr.Error as error:
        gr.Warning(error.message, title="Model unavailable")
        return Tagged(summary=f"**Can't tag:** {error.message}")
    photos = [tagging.photo(file, Path(file).name) for file in files[:MAX_BATCH_FILES]]
    # A folder per batch, so concurrent users never share a file and the download keeps a plain name.
    csv_file = Path(tempfile.mkdtemp(dir=lens.download_dir)) / "landmark_tags.csv"
    job = tagging.Tagging(model, photos, csv_file)
    rows = list(progress.tqdm(job.rows(batch_size=BATCH_SIZE), total=len(photos), desc="tagging"))
    return Tagged([table_row(row) for row in rows], str(csv_file), summary_markdown(rows, model, max(0, len(files) - MAX_BATCH_FILES)))


def build_batch_tab(lens: LandmarkLens, model_radio: gr.Radio, taught_state: gr.State) -> None:
    """The tab and its `/tag` endpoint; photos are tagged with the model chosen on the Classify tab."""
    with gr.Tab("Batch tagging", elem_id="tab-batch"):
        gr.Markdown(
            f"Tag many photos at once with the model chosen on the Classify tab (up to {MAX_BATCH_FILES} files). "
            "Photos of something else than the landmarks it knows get no landmark, and files that are not usable "
            "photos get a note instead of a tag."
        )
        photos = gr.File(file_count="multiple", label="Photos", elem_id="batch-files")
        summary = gr.Markdown(elem_id="batch-summary")
        table = gr.Dataframe(
            headers=RESULT_HEADERS,
            datatype=["str", "str", "str", "str", "str", "markdown", "str"],
            interactive=False,
            wrap=True,
            elem_id="batch-table",
        )
        download = gr.File(label="Download as CSV", interactive=False, elem_id="batch-csv")

    @photos.upload(inputs=[photos, model_radio, taught_state], outputs=[table, download, summary], api_name="tag", **MODEL_WORK)
    def tag_files(files: list[str] | None, model_name: str, taught: TaughtModels, progress=gr.Progress()) -> dict:
        tagged = tag(lens, files, model_name, progress, taught)
        return {table: tagged.table, download: tagged.csv, summary: tagged.summary}
