"""The web app: the REST API (web.api) with the search page (web.page) mounted at / on the same server."""

from __future__ import annotations

import gradio as gr
from fastapi import FastAPI

from multimodal.folio import Folio
from web.api import MAX_UPLOAD_BYTES, create_api
from web.catalog import SAMPLE_COVERS
from web.page import build_ui
from web.style import CSS
from web.throttle import FailureThrottle


def create_app(folio: Folio, auth: tuple[str, str] | None = None, api_token: str | None = None) -> FastAPI:
    """The REST API with the Gradio page mounted at /; ``auth`` guards the page, ``api_token`` the API."""
    api = create_api(folio, api_token=api_token)
    demo = build_ui(folio)
    app = gr.mount_gradio_app(
        api,
        demo,
        path="/",
        auth=auth,
        auth_message="Folio: log in to search the catalog." if auth else None,
        allowed_paths=[str(SAMPLE_COVERS)],
        max_file_size=MAX_UPLOAD_BYTES,
        theme=gr.themes.Soft(),
        css=CSS,
    )
    # Gradio only checks that file inputs were really uploaded once an app has "launched"; a mounted
    # app never calls launch(), so without this a client could name any server file as an input.
    demo.has_launched = True
    app.add_middleware(FailureThrottle)  # repeated wrong logins or tokens from one address: 429 for a while
    return app
