"""The whole page: the title, what the current model knows, the model banner, and the tabs (one module each),
which share the visitor's taught models (session state)."""

from __future__ import annotations

import gradio as gr

from landmark_core.ui.answers import known_landmarks_markdown
from landmark_core.ui.batch import build_batch_tab
from landmark_core.ui.classify import build_classify_tab
from landmark_core.ui.compare import build_compare_tab
from landmark_core.ui.lens import LandmarkLens
from landmark_core.ui.session import TaughtModels
from landmark_core.ui.teach import build_teach_tab

CSS = """
#model-banner { border: 1px solid #e0a800; background: #fff8e1; border-radius: 8px; padding: 8px 14px; color: #5d4600; }
#winner h3 { margin-top: 0; }
.closest-guess { color: #8a8a8a; font-size: 0.9em; }
#unknown-sample-gallery .caption-label { white-space: normal; max-width: 100%; }
"""


def build_page(lens: LandmarkLens) -> gr.Blocks:
    # No analytics: the app must start fast and work on machines without internet.
    # delete_cache: uploads and results older than 2 h are removed every hour.
    with gr.Blocks(title="Landmark Lens", analytics_enabled=False, delete_cache=(3600, 7200)) as page:
        gr.Markdown(
            "# 🏛️ Landmark Lens\n"
            "Which famous landmark is in your photo? Upload one, paste it, take it with your webcam, "
            "or click a sample below."
        )
        known_landmarks = gr.Markdown(known_landmarks_markdown(lens.slots[lens.default_model].model), elem_id="known-landmarks")
        banner = lens.banner()
        gr.Markdown(banner, elem_id="model-banner", visible=bool(banner))
        # This visitor's taught models (ui/session.py); Gradio drops them with the session.
        taught = gr.State(TaughtModels, delete_callback=lambda models: models.close() if models else None)
        model_radio, k_slider = build_classify_tab(lens, known_landmarks, taught)
        compare_taught = build_compare_tab(lens, taught)
        build_batch_tab(lens, model_radio, taught)
        page.unload(build_teach_tab(lens, taught, (model_radio, k_slider, known_landmarks), compare_taught, page.upload_file_set))
    return page
