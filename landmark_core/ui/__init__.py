"""The Gradio page: `build_page(LandmarkLens(model_dir, samples))`, one module per tab.

    lens.py      the shared state: model slots, gallery photos, what the page may serve
    answers.py   how one prediction is worded and drawn (Classify and Compare)
    facts.py     the "Model facts" accordions, from the model cards
    classify.py  the Classify tab and the /predict endpoint
    compare.py   the Compare tab
    batch.py     the Batch tagging tab and the /tag endpoint
    teach.py     the Teach a landmark tab and the /teach endpoint
    session.py   one visitor's taught models (session state) and their files
    page.py      the title, the banner and the tabs together

The thinking happens in landmark_core.inference; this package only turns its plain answers into a chart, words
and tables, and turns every failure into a message on the page (never a stack trace).

Events that take an uploaded photo run with `preprocess=False`: Gradio then hands us the uploaded file untouched
(its own preprocessing would open it with PIL first and fail with a generic error on a bad file), and we decode it
with landmark_core.images, which applies EXIF orientation and explains any bad file. Gradio still checks that the
path is a file this server received as an upload.
"""

from landmark_core.ui.lens import LandmarkLens
from landmark_core.ui.page import CSS, build_page

__all__ = ["CSS", "LandmarkLens", "build_page"]
