"""Folio's batch ingest: reader (CatalogReader) → mapper (BookMapper) → writer (BookWriter), run by IngestJob."""

from ingest.job import IngestJob, IngestOptions, IngestSummary
from ingest.mapper import BookMapper
from ingest.readers import CatalogReader, ColumnMap, read_catalog
from ingest.writer import BookWriter

__all__ = [
    "BookMapper",
    "BookWriter",
    "CatalogReader",
    "ColumnMap",
    "IngestJob",
    "IngestOptions",
    "IngestSummary",
    "read_catalog",
]
