"""The REST API's response models, and Folio's records turned into them."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from multimodal import BookRecord, Hit, SearchResult
from web.render import cover_url


class ErrorOut(BaseModel):
    detail: str = Field(description="what went wrong, in words a person can act on")


class BookOut(BaseModel):
    id: str
    title: str
    author: str
    year: int | None
    genre: str
    isbn: str
    description: str
    cover_url: str | None = Field(description="/covers/{id}, or null when the book has no cover")
    flags: list[str] = Field(description="notes from ingest, e.g. a blank or missing cover")


class HitOut(BookOut):
    rank: int
    score: float = Field(description="what the list is ordered by: stage 2 when cross-scored, else stage 1")
    relevance: float = Field(description="absolute match strength in [0, 1]; min_score cuts on it")
    stage1_score: float
    stage1_rank: int
    stage2_score: float | None = Field(description="null when the book was not cross-scored")
    signals: dict[str, float] = Field(
        description="the signals behind the scores, each in about [0, 1] (cover_keypoints in [-1, 1]: below 0, the "
        "book's cover was found in the photo beside the one photographed)"
    )
    confidence: float = Field(description="how sure it is this book, in [0, 1] (the page shows it as a percentage)")
    tier: str = Field(description="found, likely or possible: the words the page shows")


class SearchOut(BaseModel):
    hits: list[HitOut]
    cross_scored: bool
    profile: str
    candidates: int = Field(description="books considered in stage 1")
    cover_text: str = Field(description="the text OCR read on the query image")
    timings_ms: dict[str, float] = Field(description="milliseconds by stage, and the total")
    verdict: str = Field(description="found (one book is clearly it), matches, not_in_catalog, or empty")
    message: str = Field("", description="when there are no hits: why, and what to try")


class HealthOut(BaseModel):
    status: Literal["ok", "unavailable"]
    store_reachable: bool
    models_loaded: bool
    profile: str
    identity: str
    books: int | None
    covers: int | None
    updated: float | None = Field(description="Unix time of the last ingest")
    notice: str = Field(description="why the profile in use is not the one asked for, if it is not")
    detail: str = ""


def book_out(record: BookRecord | Hit, root_path: str = "") -> BookOut:
    """What the API says of a book (a stored record, or the book a hit is about)."""
    return BookOut(
        id=record.book_id,
        title=record.title,
        author=record.author,
        year=record.year,
        genre=record.genre,
        isbn=record.isbn,
        description=record.description,
        cover_url=cover_url(record.book_id, record.cover, root_path),
        flags=record.flags,
    )


def search_out(result: SearchResult, message: str, root_path: str = "") -> SearchOut:
    hits = [
        HitOut(
            **book_out(hit, root_path).model_dump(),
            rank=hit.rank,
            score=hit.score,
            relevance=hit.relevance,
            stage1_score=hit.stage1_score,
            stage1_rank=hit.stage1_rank,
            stage2_score=hit.stage2_score,
            signals=hit.signals,
            confidence=hit.confidence,
            tier=hit.tier,
        )
        for hit in result.hits
    ]
    return SearchOut(
        hits=hits,
        cross_scored=result.cross_scored,
        profile=result.profile,
        candidates=result.candidates,
        cover_text=result.cover_text,
        timings_ms={stage: round(ms, 1) for stage, ms in result.timings_ms.items()},
        verdict=result.verdict,
        message=message,
    )
