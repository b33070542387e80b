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
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from charset_normalizer import from_bytes

FIELDS = ("id", "title", "author", "description", "year", "genre", "isbn", "cover", "subjects", "publisher")
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
    "subjects": ("subjects", "keywords", "tags", "topics"),
    "publisher": ("publisher", "imprint"),
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

    @classmethod
    def from_arguments(cls, items: list[str]) -> ColumnMap:
        """From ``--map FIELD=COLUMN`` arguments (ValueError, with an example, for a malformed one)."""
        mapping: dict[str, str] = {}
        for item in items:
            name, equals, column = item.partition("=")
            if not equals or not name.strip() or not column:
                raise ValueError(f"--map {item!r}: expected FIELD=COLUMN, e.g. --map title='Book Title'")
            mapping[name.strip()] = column
        return cls(mapping)

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
                values[name] = as_text(raw.get(column))
        return values


def as_text(value: Any) -> str:
    """A catalog value as text: a JSON list (subjects, several authors) is its items joined by "; "."""
    if value is None:
        return ""
    if isinstance(value, list):
        return "; ".join(str(item) for item in value if item is not None and str(item).strip())
    return str(value)


MAX_FIELD_CHARS = 100_000  # a field longer than this rejects its row (a description is a few thousand)
CSV_PARSE_LIMIT = 32 * 1024 * 1024  # beyond this the CSV parser itself stops; the row is rejected too
csv.field_size_limit(CSV_PARSE_LIMIT)
# Short catalogs give a detector little to go on: latin-1 "Señorita" reads as well in cp1250 or
# cp437. The most common encoding of catalogs that are not UTF-8, Windows-1252 (latin-1's letters
# plus curly quotes and €), wins unless another reads the text clearly better (Polish or Cyrillic
# text is gibberish in cp1252, and the detector then rules cp1252 out).
WESTERN = "cp1252"
WESTERN_TOLERANCE = 0.1  # how much more "chaos" (charset-normalizer's mess measure) cp1252 may show
OTHER_DELIMITERS = ";\t|"


@dataclass(frozen=True)
class Encoding:
    name: str
    note: str = ""  # said in the summary when the encoding was guessed


def is_utf8(path: Path) -> bool:
    decoder = codecs.getincrementaldecoder("utf-8-sig")()
    try:
        with path.open("rb") as stream:
            for block in iter(lambda: stream.read(1 << 20), b""):
                decoder.decode(block)
            decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return False
    return True


NON_ASCII_CONTEXT = re.compile(rb"[\x20-\x7e]{0,40}[\x80-\xff][\x20-\xff]{0,80}")


def non_ascii_sample(path: Path, limit: int = 64 * 1024) -> bytes:
    """The passages around non-ASCII bytes, where the encoding shows (a detector sampling a large
    file at random mostly sees ASCII, and then any single-byte encoding looks as good as any other)."""
    found: list[bytes] = []
    size = 0
    with path.open("rb") as stream:
        for line in stream:
            for passage in NON_ASCII_CONTEXT.findall(line):
                found.append(passage)
                size += len(passage)
                if size >= limit:
                    return b"\n".join(found)
    return b"\n".join(found)


def choose_encoding(path: Path, declared: str | None = None) -> Encoding:
    """UTF-8 when the whole file decodes as such; else the declared encoding; else a guess, said aloud."""
    if is_utf8(path):
        return Encoding("utf-8-sig")
    if declared:
        codecs.lookup(declared)  # an unknown name is a LookupError: the CLI says so
        return Encoding(declared)
    sample = non_ascii_sample(path)
    results = list(from_bytes(sample))
    if not results:
        return Encoding("cp1252", f"{path.name} is not UTF-8 and no encoding fits it well; read as cp1252")
    chosen = results[0]
    western = from_bytes(sample, cp_isolation=[WESTERN]).best()
    if western is not None and western.chaos <= chosen.chaos + WESTERN_TOLERANCE:
        chosen = western
    others = [result.encoding for result in results if result.encoding != chosen.encoding]
    note = (
        f"{path.name} is not UTF-8: read as {chosen.encoding} (confidence {1 - chosen.chaos:.2f}"
        + (f"; also possible: {', '.join(others[:3])}" if others else "")
        + "); if that is wrong, give --encoding"
    )
    return Encoding(chosen.encoding, note)


def field_too_long(values: dict[str, str]) -> str | None:
    for name, value in values.items():
        if len(value) > MAX_FIELD_CHARS:
            return f"field {name!r} too long: {len(value):,} characters, the limit is {MAX_FIELD_CHARS:,}"
    return None


def sniff_delimiter(header_line: str) -> str:
    """A comma, unless the header has none and another usual delimiter splits it."""
    if "," in header_line:
        return ","
    counts = {delimiter: header_line.count(delimiter) for delimiter in OTHER_DELIMITERS}
    delimiter, count = max(counts.items(), key=lambda item: item[1])
    return delimiter if count else ","


class CatalogReader:
    """Reads one catalog (CSV, JSON Lines, JSON or a folder of images) into mapped rows and rejections.

    ``notes`` says what the reader had to guess (an encoding, a delimiter), for the job's summary.
    """

    def __init__(self, path: Path, columns: ColumnMap | None = None, encoding: str | None = None) -> None:
        self.path = path
        self.columns = columns or ColumnMap()
        self.declared_encoding = encoding
        self.notes: list[str] = []
        self._encoding: Encoding | None = None
        if not path.is_dir() and path.suffix.lower() not in READERS:
            known = ", ".join(READERS)
            suffix = path.suffix.lower()
            raise ValueError(f"{path}: unknown catalog format {suffix!r} (use {known} or a folder of images)")

    @property
    def encoding(self) -> str:
        if self._encoding is None:
            self._encoding = choose_encoding(self.path, self.declared_encoding)
            if self._encoding.note:
                self.notes.append(self._encoding.note)
        return self._encoding.name

    def __iter__(self) -> Iterator[CatalogRow | Rejection]:
        if self.path.is_dir():
            return read_folder(self.path, self.columns)
        return READERS[self.path.suffix.lower()](self)

    def note(self, text: str) -> None:
        if text not in self.notes:
            self.notes.append(text)


def read_csv(reader: CatalogReader) -> Iterator[CatalogRow | Rejection]:
    with reader.path.open(newline="", encoding=reader.encoding) as stream:
        delimiter = sniff_delimiter(stream.readline())
        stream.seek(0)
        if delimiter != ",":
            reader.note(f"{reader.path.name}: columns separated by {delimiter!r}, not commas")
        rows = csv.DictReader(stream, restkey="__extra__", delimiter=delimiter)
        header = rows.fieldnames or []
        mapping = reader.columns.resolve(list(header))
        while True:
            try:
                raw = next(rows)
            except StopIteration:
                return
            except csv.Error as error:  # a field beyond CSV_PARSE_LIMIT, or a broken quote
                yield Rejection(rows.reader.line_num, "", "", f"unreadable CSV row: {error}")
                continue
            yield from _checked_csv_row(rows.line_num, len(header), mapping, raw)


def _checked_csv_row(
    row: int, width: int, mapping: dict[str, str], raw: dict[str, Any]
) -> Iterator[CatalogRow | Rejection]:
    extra = raw.pop("__extra__", None)
    if extra and any(value.strip() for value in extra):
        yield Rejection(row, "", "", f"ragged row: {width + len(extra)} fields, header has {width}")
    elif any(value is None for value in raw.values()):
        present = sum(value is not None for value in raw.values())
        yield Rejection(row, "", "", f"ragged row: {present} fields, header has {width}")
    else:
        yield from _mapped(row, mapping, raw)


def _mapped(row: int, mapping: dict[str, str], raw: dict[str, Any]) -> Iterator[CatalogRow | Rejection]:
    try:
        mapped = CatalogRow(row, ColumnMap.apply(mapping, raw))
    except KeyError as error:
        yield Rejection(row, "", "", str(error.args[0]))
        return
    too_long = field_too_long(mapped.values)
    yield Rejection(row, mapped.book_id[:200], "", too_long) if too_long else mapped


def read_jsonl(reader: CatalogReader) -> Iterator[CatalogRow | Rejection]:
    with reader.path.open(encoding=reader.encoding) as stream:
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
            yield from _mapped(row, reader.columns.resolve(list(raw)), raw)


def read_json(reader: CatalogReader) -> Iterator[CatalogRow | Rejection]:
    data = json.loads(reader.path.read_text(encoding=reader.encoding))
    items = data.get("books", data.get("items", [])) if isinstance(data, dict) else data
    for row, raw in enumerate(items, start=1):
        if not isinstance(raw, dict):
            yield Rejection(row, "", "", f"expected a JSON object, got {type(raw).__name__}")
            continue
        yield from _mapped(row, reader.columns.resolve(list(raw)), raw)


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


READERS: dict[str, Callable[[CatalogReader], Iterator[CatalogRow | Rejection]]] = {
    ".csv": read_csv,
    ".tsv": read_csv,
    ".jsonl": read_jsonl,
    ".ndjson": read_jsonl,
    ".json": read_json,
}


def read_catalog(path: Path, columns: ColumnMap | None = None) -> Iterator[CatalogRow | Rejection]:
    """The rows of a catalog (see :class:`CatalogReader`, which also says what it had to guess)."""
    return iter(CatalogReader(path, columns))
