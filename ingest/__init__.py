"""Folio's batch ingest: catalog readers and the reader → mapper → writer job."""

from ingest.job import IngestJob, IngestOptions, IngestSummary
from ingest.readers import ColumnMap, read_catalog

__all__ = ["ColumnMap", "IngestJob", "IngestOptions", "IngestSummary", "read_catalog"]
