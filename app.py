"""Folio's web app: the search page (Gradio) and the REST API (FastAPI) on one server.

    python app.py [--host 127.0.0.1] [--port 7860] [--profile auto|clip|offline] [--data-dir DIR] [--auth USER:PASSWORD]

Every setting can also come from the environment (FOLIO_PORT, FOLIO_DATA_DIR, ...; see
multimodal/settings.py). The page is at /, the REST API under /api (its docs at /docs), covers
under /covers, and Gradio's own API (``gradio_client``: ``api_name="/search"``) beside the page.
This file only parses flags, opens the search service and serves; the app itself is in web/.

The app binds 127.0.0.1 unless told otherwise. On any other address it starts only with a login
for the page (``FOLIO_AUTH=user:password`` or ``--auth``) and a bearer token for the REST API
(``FOLIO_API_TOKEN``); see web/access.py.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

import uvicorn

from multimodal.errors import FolioError
from multimodal.service import open_search
from multimodal.settings import Settings
from web.access import access_from, exposure_problem
from web.server import create_app


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python app.py", description="Serve Folio's search page and REST API.")
    parser.add_argument("--host", help="address to bind (FOLIO_HOST, default 127.0.0.1)")
    parser.add_argument("--port", type=int, help="port to listen on (FOLIO_PORT, default 7860)")
    parser.add_argument("--profile", choices=["auto", "clip", "offline"], help="model profile (FOLIO_PROFILE)")
    parser.add_argument("--data-dir", type=Path, help="where the embedded store lives (FOLIO_DATA_DIR)")
    parser.add_argument("--collection", help="collection name prefix (FOLIO_COLLECTION)")
    parser.add_argument("--chroma-host", help="use a Chroma server at this host (FOLIO_CHROMA_HOST)")
    parser.add_argument("--chroma-port", type=int, help="the Chroma server's port (FOLIO_CHROMA_PORT)")
    parser.add_argument(
        "--auth",
        metavar="USER:PASSWORD",
        help="login for the page (FOLIO_AUTH); the REST API's bearer token comes from FOLIO_API_TOKEN",
    )
    return parser.parse_args(argv)


def settings_from(args: argparse.Namespace) -> Settings:
    names = ("host", "port", "profile", "data_dir", "collection", "chroma_host", "chroma_port")
    return Settings(**{name: value for name in names if (value := getattr(args, name)) is not None})


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    args = parse_args(argv)
    settings = settings_from(args)
    try:
        access = access_from(args.auth, os.environ)
    except ValueError as error:
        return refuse(str(error))
    if problem := exposure_problem(settings.host, access):
        return refuse(problem)  # before loading any model: say so at once
    try:
        folio = open_search(settings)
        app = create_app(folio, auth=access.auth, api_token=access.api_token)
    except FolioError as error:
        return refuse(str(error))
    print(f"Folio ({folio.profile} profile, {folio.count()} books) on http://{settings.host}:{settings.port}")
    print(f"REST API docs at http://{settings.host}:{settings.port}/docs")
    if access.auth or access.api_token:
        guards = {"login for the page": access.auth, "bearer token for the REST API": access.api_token}
        print("; ".join(f"{name}: {'on' if value else 'off'}" for name, value in guards.items()))
    uvicorn.run(app, host=settings.host, port=settings.port, log_level="warning")
    return 0


def refuse(message: str) -> int:
    """Say why the app does not start (no traceback) and give the exit status for it."""
    print(f"folio: {message}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
