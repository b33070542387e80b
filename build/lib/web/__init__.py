"""Folio's web layer: the REST API and the Gradio page, both on the library in ``multimodal``."""
