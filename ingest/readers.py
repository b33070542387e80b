"""Catalog readers: CSV, JSON Lines and JSON files (or a folder of images) → mapped catalog rows.

Readers stream: one row at a time, so a catalog of any size reads in constant memory. A row that
cannot be read (a line that is not JSON, a ragged CSV row) becomes a ``Rejection`` with its row
number and reason instead of stopping the job.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from charset_normalizer import from_path

FIELDS = ("id", "title", "author", "description", "year", "genre", "isbn", "cover")
# Header names we recognise without a --map option (compared case-insensitively).
SYNONYMS: dict[str, tuple[str, ...]] = {
    "id": ("id", "book_id", "identifier"),
    "title": ("title", "book title", "name"),
    "author": ("author", "authors", "creator", "by"),
    "description": ("description", "summary", "blurb", "synopsis"),
    "year": ("year", "published", "publication_year", "date"),
    "genre": ("genre", "category", "subject"),
    "isbn": ("isbn", "isbn13", "isbn_13", "isbn10"),
    "cover": ("cover", "cover_path", "image", "image_path", "filename", "file", "cover_url", "image_url"),
}
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp", ".gif", ".bmp", ".tif", ".tiff"}


@dataclass
class Rejection:
    row: int
    book_id: str
    field: str
    reason: str


@dataclass
class CatalogRow:
    """One catalog row after column mapping: canonical field name → text."""

    row: int
    values: dict[str, str] = field(default_factory=dict)

    def get(self, name: str) -> str:
        return (self.values.get(name) or "").strip()

    @property
    def book_id(self) -> str:
        """The catalog's id, else the ISBN, else a hash of title and author: stable across runs."""
        if self.get("id"):
            return self.get("id")
        if self.get("isbn"):
            return self.get("isbn")
        key = f"{self.get('title').lower()}|{self.get('author').lower()}"
        return "t-" + hashlib.sha1(key.encode()).hexdigest()[:16]

    @property
    def year(self) -> int | None:
        match = re.search(r"\b(\d{4})\b", self.get("year"))
        return int(match.group(1)) if match else None


class ColumnMap:
    """Maps a catalog's own column names to Folio's fields.

    ``overrides`` come from ``--map FIELD=COLUMN``. A COLUMN containing ``{...}`` is a template
    over the row, e.g. ``--map cover=images/img_{ISBN}.jpg``.
    """

    def __init__(self, overrides: dict[str, str] | None = None) -> None:
        overrides = overrides or {}
        unknown = set(overrides) - set(FIELDS)
        if unknown:
            raise ValueError(f"--map names unknown fields {sorted(unknown)}; fields are {', '.join(FIELDS)}")
        self.overrides = overrides

    def resolve(self, columns: list[str]) -> dict[str, str]:
        """Field → column (or template) for this catalog's header."""
        lowered = {column.strip().lower(): column for column in columns if column}
        mapping: dict[str, str] = {}
        for name in FIELDS:
            if name in self.overrides:
                mapping[name] = self.overrides[name]
                continue
            for synonym in SYNONYMS[name]:
                if synonym in lowered:
                    mapping[name] = lowered[synonym]
                    break
        return mapping

    @staticmethod
    def apply(mapping: dict[str, str], raw: dict[str, Any]) -> dict[str, str]:
        values: dict[str, str] = {}
        for name, column in mapping.items():
            if "{" in column:
                try:
                    values[name] = column.format_map({k: "" if v is None else str(v) for k, v in raw.items()})
                except KeyError as error:
                    raise KeyError(f"template {column!r} names a column the row lacks: {error}") from error
            else:
                value = raw.get(column)
                values[name] = "" if value is None else str(value)
        return values


def detect_encoding(path: Path) -> str:
    """UTF-8 (with or without BOM) when the whole file decodes as such, else charset-normalizer's guess."""
    decoder = codecs.getincrementaldecoder("utf-8-sig")()
    try:
        with path.open("rb") as stream:
            for block in iter(lambda: stream.read(1 << 20), b""):
                decoder.decode(block)
            decoder.decode(b"", final=True)
        return "utf-8-sig"
    except UnicodeDecodeError:
        best = from_path(path).best()
        return best.encoding if best else "latin-1"


def read_csv(path: Path, columns: ColumnMap) -> Iterator[CatalogRow | Rejection]:
    with path.open(newline="", encoding=detect_encoding(path)) as stream:
        reader = csv.DictReader(stream, restkey="__extra__")
        header = reader.fieldnames or []
        mapping = columns.resolve(list(header))
        width = len(header)
        for raw in reader:
            row = reader.line_num
            extra = raw.pop("__extra__", None)
            if extra and any(value.strip() for value in extra):
                yield Rejection(row, "", "", f"ragged row: {width + len(extra)} fields, header has {width}")
                continue
            if any(value is None for value in raw.values()):
                present = sum(value is not None for value in raw.values())
                yield Rejection(row, "", "", f"ragged row: {present} fields, header has {width}")
                continue
            yield from _mapped(row, mapping, raw)


def _mapped(row: int, mapping: dict[str, str], raw: dict[str, Any]) -> Iterator[CatalogRow | Rejection]:
    try:
        yield CatalogRow(row, ColumnMap.apply(mapping, raw))
    except KeyError as error:
        yield Rejection(row, "", "", str(error.args[0]))


def read_jsonl(path: Path, columns: ColumnMap) -> Iterator[CatalogRow | Rejection]:
    with path.open(encoding=detect_encoding(path)) as stream:
        for row, line in enumerate(stream, start=1):
            if not line.strip():
                continue
            try:
                raw = json.loads(line)
            except json.JSONDecodeError as error:
                yield Rejection(row, "", "", f"not valid JSON: {error.msg} at column {error.colno}")
                continue
            if not isinstance(raw, dict):
                yield Rejection(row, "", "", f"expected a JSON object, got {type(raw).__name__}")
                continue
            yield from _mapped(row, columns.resolve(list(raw)), raw)


def read_json(path: Path, columns: ColumnMap) -> Iterator[CatalogRow | Rejection]:
    data = json.loads(path.read_text(encoding=detect_encoding(path)))
    items = data.get("books", data.get("items", [])) if isinstance(data, dict) else data
    for row, raw in enumerate(items, start=1):
        if not isinstance(raw, dict):
            yield Rejection(row, "", "", f"expected a JSON object, got {type(raw).__name__}")
            continue
        yield from _mapped(row, columns.resolve(list(raw)), raw)


def read_folder(path: Path, columns: ColumnMap) -> Iterator[CatalogRow | Rejection]:
    """Every image in a folder (recursively) is a book; a sidecar ``<name>.json`` adds its fields."""
    images = sorted(p for p in path.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
    for row, image in enumerate(images, start=1):
        raw: dict[str, Any] = {}
        sidecar = image.with_suffix(".json")
        if sidecar.is_file():
            try:
                raw = json.loads(sidecar.read_text())
            except json.JSONDecodeError as error:
                yield Rejection(row, "", "sidecar", f"{sidecar.name} is not valid JSON: {error.msg}")
                continue
        relative = image.relative_to(path).as_posix()
        raw.setdefault("id", relative)
        raw.setdefault("title", image.stem.replace("_", " ").replace("-", " ").strip())
        raw["cover"] = relative
        yield from _mapped(row, columns.resolve(list(raw)) | {"cover": "cover"}, raw)


def read_catalog(path: Path, columns: ColumnMap | None = None) -> Iterator[CatalogRow | Rejection]:
    columns = columns or ColumnMap()
    if path.is_dir():
        return read_folder(path, columns)
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return read_csv(path, columns)
    if suffix in (".jsonl", ".ndjson"):
        return read_jsonl(path, columns)
    if suffix == ".json":
        return read_json(path, columns)
    raise ValueError(f"{path}: unknown catalog format {suffix!r} (use .csv, .jsonl, .json or a folder of images)")
