"""Fitted confidence calibrations, one JSON file per profile (multimodal/confidence.py)."""
