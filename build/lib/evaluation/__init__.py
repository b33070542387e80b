"""Evaluation of Folio on real catalogs: ``python -m evaluation CATALOG ...`` (see docs/evaluation.md).

Stands above ``multimodal`` (the library) and ``ingest`` (it ingests the catalog it evaluates).
"""
