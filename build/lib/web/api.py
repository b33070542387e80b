"""Folio's REST API: search by words and/or a cover image, look up books, serve covers, report health.

``api_router(folio)`` holds the routes; ``create_api(folio)`` is a FastAPI app with them, their error
handlers and the upload limit, on which web.server mounts the Gradio page. Searches take the path the
page takes too (web.queries).

- ``GET  /api/search?q=&k=&genre=&author=&year_min=&year_max=&cross_score=&min_score=`` (genre and
  author in any case; one the catalog lacks is a 422 naming the valid or nearest values)
- ``POST /api/search`` (multipart form: optional ``image`` file, optional ``q`` and the same options)
- ``GET  /api/books/{id}``
- ``GET  /api/books/{id}/similar?by=cover|description&k=``: books like a catalog book
- ``GET  /api/health``
- ``GET  /covers/{id}``: the book's cover, found through its stored record only

With an ``api_token``, every one of these routes wants ``Authorization: Bearer <token>`` (401 without
it); the docs (/docs, /openapi.json) stay readable. Every error answers
``{"detail": "<a sentence a person can act on>"}``.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, FastAPI, File, Form, HTTPException, Query, Request, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, RedirectResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from PIL import Image
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send

from multimodal import BookRecord, SearchFilters
from multimodal.errors import BookNotFound, StoreUnavailable
from multimodal.folio import Folio
from web.queries import MAX_RESULTS, Answer, Refused, SearchAsk, SimilarAsk, answer_search, answer_similar
from web.schemas import BookOut, ErrorOut, HealthOut, SearchOut, book_out, search_out

MAX_UPLOAD_BYTES = 10 * 1024 * 1024
FORM_OVERHEAD_BYTES = 64 * 1024  # room for the multipart boundaries and the small form fields
HEALTH_DEADLINE_SECONDS = 2.0
YEARS = {"ge": -9999, "le": 9999}  # the store's filters take 64-bit integers; no book needs more than this
EMPTY_QUERY = "Give some words (q), a cover image (image), or both."
TOKEN_NEEDED = "This API needs a bearer token: send the header 'Authorization: Bearer <FOLIO_API_TOKEN>'."


def error_responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    return {code: {"model": ErrorOut} for code in codes}


# -- turning Folio's objects into responses --------------------------------------------------------
# -- request handling ----------------------------------------------------------------------------
class UploadLimit:
    """Refuses an /api/ request whose declared body is too large before any of it is read."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"].startswith("/api/"):
            length = Headers(scope=scope).get("content-length", "")
            if length.isdigit() and int(length) > self.max_bytes + FORM_OVERHEAD_BYTES:
                response = JSONResponse({"detail": too_large(self.max_bytes)}, status_code=413)
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


def too_large(max_bytes: int) -> str:
    return f"upload too large: the limit is {max_bytes // (1024 * 1024)} MB"


def read_upload(image: UploadFile | None, max_bytes: int) -> bytes | None:
    """The uploaded file's bytes (None when no file was sent); 413 past the size cap."""
    if image is None or (not image.filename and not image.size):
        return None
    data = image.file.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise HTTPException(413, too_large(max_bytes))
    return data


def readable_validation_error(_: Request, error: Exception) -> JSONResponse:
    """FastAPI's validation errors as one sentence, in the same shape as every other error."""
    problems = error.errors() if isinstance(error, RequestValidationError) else []
    parts = [f"{'.'.join(str(p) for p in problem['loc'][1:])}: {problem['msg']}" for problem in problems]
    return JSONResponse({"detail": "; ".join(parts) or "invalid request"}, status_code=422)


def store_unavailable(_: Request, error: Exception) -> JSONResponse:
    return JSONResponse({"detail": f"the store is unavailable: {error}"}, status_code=503)


def image_media_type(path: Path) -> str | None:
    """The MIME type Pillow reads from the file's content, or None when it is not an image."""
    try:
        with Image.open(path) as image:
            return Image.MIME.get(image.format or "")
    except (OSError, Image.DecompressionBombError):
        return None


bearer = HTTPBearer(auto_error=False, description="the server's FOLIO_API_TOKEN")


def token_check(api_token: str) -> Callable[[HTTPAuthorizationCredentials | None], None]:
    """A dependency that lets a request through only with ``Authorization: Bearer <api_token>``."""
    expected = api_token.encode()

    def check(credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]) -> None:
        given = credentials.credentials.encode() if credentials else b""
        if not secrets.compare_digest(given, expected):
            raise HTTPException(401, TOKEN_NEEDED, headers={"WWW-Authenticate": "Bearer"})

    return check


# -- the app -------------------------------------------------------------------------------------
def refusal_error(refusal: Refused) -> HTTPException:
    """A refused request as the API's JSON error."""
    words = {
        "empty_query": EMPTY_QUERY,
        "bad_filter": refusal.detail,
        "bad_image": f"bad image: {refusal.detail}",
        "unavailable": f"the store is unavailable: {refusal.detail}",
        "not_found": refusal.detail,
        "no_cover": f"{refusal.detail}: try by=description",
    }
    return HTTPException(refusal.status, words[refusal.kind])


def answered(answer: Callable[[], Answer], request: Request) -> SearchOut:
    try:
        done = answer()
    except Refused as refusal:
        raise refusal_error(refusal) from refusal
    return search_out(done.result, done.advice, request.scope.get("root_path", ""))


def create_api(folio: Folio, max_upload_bytes: int = MAX_UPLOAD_BYTES, api_token: str | None = None) -> FastAPI:
    """The REST API as an app of its own; with ``api_token``, each of its routes wants that bearer token."""
    api = FastAPI(
        title="Folio",
        summary="Multimodal book search: find a book by a photo of its cover, by words, or both.",
        version="0.1.0",
    )
    api.add_middleware(UploadLimit, max_bytes=max_upload_bytes)
    api.add_exception_handler(RequestValidationError, readable_validation_error)
    api.add_exception_handler(StoreUnavailable, store_unavailable)
    api.include_router(api_router(folio, max_upload_bytes, api_token))
    return api


def api_router(folio: Folio, max_upload_bytes: int = MAX_UPLOAD_BYTES, api_token: str | None = None) -> APIRouter:
    """The REST routes; with ``api_token``, each wants that bearer token."""
    guarded = [Depends(token_check(api_token))] if api_token else []
    router = APIRouter(dependencies=guarded)
    auth_codes = (401, 429) if api_token else ()  # 429: web.throttle after repeated wrong tokens
    add_search_routes(router, folio, max_upload_bytes, auth_codes)
    add_book_routes(router, folio, auth_codes)
    add_health_route(router, folio, auth_codes)
    return router


def add_search_routes(router: APIRouter, folio: Folio, max_upload_bytes: int, auth_codes: tuple[int, ...]) -> None:
    @router.get(
        "/api/search",
        response_model=SearchOut,
        responses=error_responses(*auth_codes, 422, 503),
        tags=["search"],
        summary="Search by words",
    )
    def search_get(
        request: Request,
        q: Annotated[str, Query(max_length=1000, description="words: a title, an author, a subject")] = "",
        k: Annotated[int, Query(ge=1, le=MAX_RESULTS, description="how many books")] = 10,
        genre: Annotated[str | None, Query(description="only this genre (any case)")] = None,
        author: Annotated[str | None, Query(max_length=500, description="only this author (any case)")] = None,
        year_min: Annotated[int | None, Query(**YEARS, description="published in or after")] = None,
        year_max: Annotated[int | None, Query(**YEARS, description="published in or before")] = None,
        cross_score: Annotated[bool, Query(description="re-rank the shortlist with stage 2")] = True,
        min_score: Annotated[float | None, Query(ge=0, le=1, description="minimum relevance")] = None,
    ) -> SearchOut:
        filters = SearchFilters(genre=genre or None, author=author or None, year_min=year_min, year_max=year_max)
        ask = SearchAsk(q, None, k, cross_score, min_score, filters)
        return answered(lambda: answer_search(folio, ask), request)

    @router.post(
        "/api/search",
        response_model=SearchOut,
        responses=error_responses(*auth_codes, 400, 413, 422, 503),
        tags=["search"],
        summary="Search by a cover image, words, or both",
    )
    def search_post(
        request: Request,
        image: Annotated[UploadFile | None, File(description="a photo or scan of a cover (≤ 10 MB)")] = None,
        q: Annotated[str, Form(max_length=1000)] = "",
        k: Annotated[int, Form(ge=1, le=MAX_RESULTS)] = 10,
        genre: Annotated[str | None, Form()] = None,
        author: Annotated[str | None, Form(max_length=500)] = None,
        year_min: Annotated[int | None, Form(**YEARS)] = None,
        year_max: Annotated[int | None, Form(**YEARS)] = None,
        cross_score: Annotated[bool, Form()] = True,
        min_score: Annotated[float | None, Form(ge=0, le=1)] = None,
    ) -> SearchOut:
        data = read_upload(image, max_upload_bytes)
        filters = SearchFilters(genre=genre or None, author=author or None, year_min=year_min, year_max=year_max)
        ask = SearchAsk(q, data, k, cross_score, min_score, filters)
        return answered(lambda: answer_search(folio, ask), request)


def stored_record(folio: Folio, book_id: str) -> BookRecord:
    try:
        return folio.book(book_id)
    except BookNotFound as error:
        raise HTTPException(404, str(error)) from error


def add_book_routes(router: APIRouter, folio: Folio, auth_codes: tuple[int, ...]) -> None:
    @router.get(
        "/api/books/{book_id:path}/similar",
        response_model=SearchOut,
        responses=error_responses(*auth_codes, 404, 422, 503),
        tags=["books"],
        summary="Books like a catalog book, by its cover or its description",
    )
    def similar_books(
        request: Request,
        book_id: str,
        by: Annotated[Literal["cover", "description"], Query(description="compare covers or descriptions")] = "cover",
        k: Annotated[int, Query(ge=1, le=MAX_RESULTS, description="how many books")] = 10,
        cross_score: Annotated[bool, Query(description="re-rank the shortlist with stage 2")] = True,
        min_score: Annotated[float, Query(ge=0, le=1, description="minimum relevance (none by default)")] = 0.0,
    ) -> SearchOut:
        ask = SimilarAsk(book_id, by, k, cross_score, min_score)
        return answered(lambda: answer_similar(folio, ask), request)

    @router.get(
        "/api/books/{book_id:path}",
        response_model=BookOut,
        responses=error_responses(*auth_codes, 404, 503),
        tags=["books"],
    )
    def get_book(request: Request, book_id: str) -> BookOut:
        return book_out(stored_record(folio, book_id), request.scope.get("root_path", ""))

    @router.get(
        "/covers/{book_id:path}",
        response_class=FileResponse,
        responses={
            200: {"content": {"image/*": {}}, "description": "the cover image"},
            307: {"description": "the cover lives at a URL: redirect there"},
            **error_responses(*auth_codes, 404, 503),
        },
        response_model=None,
        tags=["books"],
    )
    def get_cover(book_id: str) -> FileResponse | RedirectResponse:
        cover = stored_record(folio, book_id).cover
        if cover.startswith(("http://", "https://")):
            return RedirectResponse(cover, status_code=307)
        path = Path(cover)
        media_type = image_media_type(path) if cover and path.is_file() else None
        if media_type is None:
            raise HTTPException(404, f"book {book_id!r} has no readable cover")
        return FileResponse(path, media_type=media_type, headers={"Cache-Control": "public, max-age=3600"})


def add_health_route(router: APIRouter, folio: Folio, auth_codes: tuple[int, ...]) -> None:
    @router.get(
        "/api/health",
        response_model=HealthOut,
        responses={**error_responses(*auth_codes), 503: {"model": HealthOut}},
        tags=["health"],
    )
    def health() -> HealthOut | JSONResponse:
        models_loaded = folio.models is not None and folio.models.text_encoder is not None
        common = {"models_loaded": models_loaded, "profile": folio.profile, "notice": folio.notice}
        try:
            folio.ping(HEALTH_DEADLINE_SECONDS)  # a frozen store answers "unavailable" in seconds, not never
            info = folio.info()
        except Exception as error:  # the store (a Chroma server, a disk) is gone: say so, don't crash
            down = HealthOut(
                status="unavailable",
                store_reachable=False,
                identity="",
                books=None,
                covers=None,
                updated=None,
                detail=f"store unreachable: {error}",
                **common,
            )
            return JSONResponse(down.model_dump(), status_code=503)
        healthy = HealthOut(
            status="ok" if models_loaded else "unavailable",
            store_reachable=True,
            identity=info.identity,
            books=info.books,
            covers=info.covers,
            updated=info.updated,
            **common,
        )
        return healthy if models_loaded else JSONResponse(healthy.model_dump(), status_code=503)
