"""Gradio components the page configures its own way: a lenient cover input and a results gallery."""

from __future__ import annotations

import gradio as gr
from gradio.components.image import ImageData
from PIL import Image


def lenient(image: gr.Image) -> gr.Image:
    """Make ``image`` hand an unreadable upload on as its path, so the search can say what is wrong with it.

    Gradio opens every image upload with Pillow before the event handler runs; a PDF named .jpg would
    otherwise end in Gradio's generic "could not preprocess" error instead of Folio's explanation.
    (The instance's method is replaced: a gr.Image subclass would make Gradio write a .pyi stub.)
    """
    strict = image.preprocess

    def preprocess(payload: ImageData | None) -> str | None:
        try:
            return strict(payload)
        except (OSError, ValueError, Image.DecompressionBombError):  # UnidentifiedImageError is an OSError
            return payload.path if payload else None

    image.preprocess = preprocess
    return image


def results_gallery(elem_id: str, label: str, visible: bool = True) -> gr.Gallery:
    return gr.Gallery(
        label=label,
        show_label=False,
        columns=5,
        height="auto",
        object_fit="contain",
        allow_preview=False,  # selecting a card opens its detail panel instead
        fit_columns=False,  # one hit stays a card, not a poster
        buttons=[],
        visible=visible,
        elem_id=elem_id,
        elem_classes="folio-gallery",
    )
