"""Landmark Lens web app: `python app.py` serves the page on http://127.0.0.1:7860.

    python app.py [--host H] [--port P] [--share] [--models DIR] [--samples DIR]
    gradio app.py [-- --models DIR ...]     # reload mode: the page is rebuilt whenever a source file changes

The page lives in landmark_core/ui/; this file reads the command line, builds the page as the module-level
`demo` (the name reload mode looks for) and launches it.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
import time
from pathlib import Path

STARTED = time.perf_counter()


from landmark_core import images, model_files, runtime, ui  # noqa: E402
from landmark_core.samples import default_samples, list_samples  # noqa: E402

# A server runs one prediction per core, each on one torch thread. Two threads per prediction wait on each other
# whenever the server's own threads (or a second request) take a core: on 2 cores, the server-side predict p50
# went from 10-14 / 20-26 ms (scratch / transfer) to 8.9 / 14-16 ms, and 20 clients at once from 14.5-16.7 to
# 17.4-17.8 requests/s. All model events share one concurrency group (see ui/lens.py), so this bounds them together.
THREADS_PER_PREDICTION = 1


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    # On a Hugging Face Space (SPACE_ID set) the page must be reachable from outside the container.
    default_host = os.environ.get("GRADIO_SERVER_NAME") or ("0.0.0.0" if os.environ.get("SPACE_ID") else "127.0.0.1")
    parser.add_argument("--host", default=default_host, help="address to listen on (default: %(default)s)")
    parser.add_argument("--port", type=int, default=int(os.environ.get("GRADIO_SERVER_PORT", 7860)), help="default: %(default)s")
    parser.add_argument("--share", action="store_true", help="also publish a temporary public gradio.live link")
    parser.add_argument("--models", type=Path, default=model_files.DEFAULT_MODEL_DIR, help="folder with scratch.pt/transfer.pt and their .json cards")
    parser.add_argument("--samples", type=Path, default=None, help="gallery photos (default: assets/samples, else the shared photos beside the repo)")
    return parser.parse_args()


# Built at import, so that reload mode (which imports this file and serves `demo`) gets the same page.
ARGS = parse_args()
logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
THREADS = runtime.configure_torch(threads=THREADS_PER_PREDICTION)  # OMP_NUM_THREADS still wins
SAMPLES = list_samples(ARGS.samples) if ARGS.samples else default_samples()
LENS = ui.LandmarkLens(ARGS.models, SAMPLES)
demo = ui.build_page(LENS).queue(default_concurrency_limit=max(1, runtime.allowed_cpus() // THREADS))


def main() -> None:
    # A stop signal (a Space restarting, a test ending) exits like Ctrl-C, so cleanup registered with atexit runs.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    demo.launch(
        server_name=ARGS.host,
        server_port=ARGS.port,
        share=ARGS.share,
        max_file_size=images.MAX_FILE_BYTES,
        allowed_paths=LENS.allowed_paths(),
        show_error=False,  # a handler's unexpected exception reaches the page as a plain "Error", never a trace
        enable_monitoring=False,
        css=ui.CSS,
        prevent_thread_lock=True,
    )
    # Warming up after launch keeps the start fast; a photo sent meanwhile simply runs alongside.
    threading.Thread(target=LENS.warm_up, name="warm-up", daemon=True).start()
    logging.getLogger("landmark_lens").info(
        "ready in %.1f s with %d samples; models: %s",
        time.perf_counter() - STARTED,
        len(SAMPLES),
        ", ".join(f"{name} {'ok' if slot.model else 'MISSING'}" for name, slot in LENS.slots.items()),
    )
    demo.block_thread()


if __name__ == "__main__":
    main()
