"""What one visitor taught: their taught models, kept in their browser session only (Gradio session state).

Another visitor never sees them. At most MAX_TAUGHT live in a session (teaching one more drops the oldest), so a
session's memory stays bounded; each taught model costs about one transfer model (~14 MB). The downloadable
files of a taught model are written into Gradio's own cache folder (so Gradio serves them without another copy)
and deleted with the session, like what the visitor uploaded to teach it.
"""

from __future__ import annotations

import logging
import re
import shutil
import tempfile
from pathlib import Path

from gradio.utils import get_upload_folder, is_in_or_equal

from landmark_core.files import write_json
from landmark_core.model_files import LoadedModel
from landmark_core.predictor import save_scripted
from landmark_core.teaching import Taught

log = logging.getLogger("landmark_lens")

MAX_TAUGHT = 3


def delete_uploads(paths: list[str]) -> None:
    """Remove uploaded files (each sits in a folder of its own in Gradio's cache); nothing outside that cache is
    ever touched. The caller passes only what the server received as uploads (Blocks.upload_file_set), never a
    file Gradio cached for the page itself, such as a gallery photo."""
    cache = get_upload_folder()
    for path in paths:
        file = Path(path)
        if not is_in_or_equal(str(file), cache) or not file.is_file():
            continue
        file.unlink(missing_ok=True)
        try:
            file.parent.rmdir()  # only when empty
        except OSError:
            pass


class TaughtModels:
    """One session's taught models by name ("Transfer + <landmark>"), oldest first, and their download files."""

    def __init__(self) -> None:
        self.models: dict[str, LoadedModel] = {}
        self.downloads: dict[str, list[str]] = {}
        self.uploads: list[str] = []  # photos given to teaching that are not yet deleted (a request that failed)
        self._folder: Path | None = None

    def __contains__(self, name: object) -> bool:
        return name in self.models

    @property
    def names(self) -> list[str]:
        return list(self.models)

    def _download_folder(self) -> Path:
        if self._folder is None:
            self._folder = Path(tempfile.mkdtemp(prefix="landmark-lens-taught-", dir=get_upload_folder()))
        return self._folder

    def add(self, taught: Taught) -> str | None:
        """Keep `taught` (replacing one of the same name) and write its download files; returns the name of the
        model dropped to stay within MAX_TAUGHT, if any."""
        self.remove(taught.name)
        dropped = None
        if len(self.models) >= MAX_TAUGHT:
            dropped = next(iter(self.models))
            self.remove(dropped)
        slug = re.sub(r"[^A-Za-z0-9]+", "_", taught.landmark).strip("_") or "landmark"
        folder = Path(tempfile.mkdtemp(dir=self._download_folder()))
        model_file, card_file = folder / f"transfer_plus_{slug}.pt", folder / f"transfer_plus_{slug}.json"
        save_scripted(taught.predictor, model_file)
        write_json(card_file, taught.card)
        self.models[taught.name] = LoadedModel(taught.name, taught.predictor, taught.card)
        self.downloads[taught.name] = [str(model_file), str(card_file)]
        return dropped

    def remove(self, name: str) -> None:
        self.models.pop(name, None)
        for file in self.downloads.pop(name, []):
            shutil.rmtree(Path(file).parent, ignore_errors=True)

    def close(self) -> None:
        """Forget every taught model and delete every file of this session (Gradio calls it when the session ends)."""
        for name in list(self.models):
            self.remove(name)
        delete_uploads(self.uploads)
        self.uploads.clear()
        if self._folder is not None:
            shutil.rmtree(self._folder, ignore_errors=True)
            self._folder = None
        log.info("a session's taught models and files are deleted")
