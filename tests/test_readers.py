"""Catalog readers: CSV / JSONL / JSON / folders, column mapping, and rows that cannot be read."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ingest.readers import MAX_FIELD_CHARS, CatalogReader, CatalogRow, ColumnMap, Rejection, read_catalog


def rows_of(path: Path, **mapping: str) -> list[CatalogRow | Rejection]:
    return list(read_catalog(path, ColumnMap(mapping)))


def test_csv_with_our_column_names(tmp_path: Path):
    path = tmp_path / "books.csv"
    path.write_text("id,title,author,year,genre,description,cover\nb1,Moon Tide,Ana Roe,1999,Romance,A tale.,c.png\n")
    [row] = rows_of(path)
    assert row.book_id == "b1" and row.get("title") == "Moon Tide" and row.year == 1999
    assert row.get("cover") == "c.png" and row.get("genre") == "Romance"


def test_csv_column_mapping_and_synonyms(tmp_path: Path):
    path = tmp_path / "books.csv"
    path.write_text('Book Title,Writer,ISBN,date\n"Salt, and Silver",Ina Vale,9780000000001,5/1/2011\n')
    [row] = rows_of(path, title="Book Title", author="Writer", cover="covers/img_{ISBN}.jpg")
    assert row.get("title") == "Salt, and Silver" and row.get("author") == "Ina Vale"
    assert row.book_id == "9780000000001"  # no id column: the ISBN (a synonym) is the id
    assert row.get("cover") == "covers/img_9780000000001.jpg" and row.year == 2011


def test_unknown_mapped_field_is_refused():
    with pytest.raises(ValueError, match="unknown fields"):
        ColumnMap({"titel": "Title"})


def test_jsonl_with_mapping_and_a_broken_line(tmp_path: Path):
    path = tmp_path / "books.jsonl"
    lines = [
        json.dumps({"name": "Glass Harbor", "by": "Teo Lund", "img": "a.png"}),
        "{not json",
        json.dumps(["a", "list"]),
        json.dumps({"name": "Cold Orchard", "by": "Mae Ito", "img": "b.png"}),
    ]
    path.write_text("\n".join(lines) + "\n")
    rows = rows_of(path, cover="img")
    assert [type(row).__name__ for row in rows] == ["CatalogRow", "Rejection", "Rejection", "CatalogRow"]
    assert rows[0].get("title") == "Glass Harbor" and rows[0].get("author") == "Teo Lund"
    assert rows[1].row == 2 and "not valid JSON" in rows[1].reason
    assert rows[3].get("cover") == "b.png"


def test_json_array(tmp_path: Path):
    path = tmp_path / "metadata.json"
    path.write_text(json.dumps([{"title": "Emma", "genre": "romance", "filename": "romance/000.jpg"}]))
    [row] = rows_of(path)
    assert row.get("cover") == "romance/000.jpg" and row.get("genre") == "romance"
    assert row.book_id.startswith("t-")  # neither id nor ISBN: a stable hash of title and author
    assert row.book_id == rows_of(path)[0].book_id


def test_subjects_and_publisher_are_read_and_a_list_is_joined(tmp_path: Path):
    path = tmp_path / "books.json"
    book = {"isbn": "9788870561012", "title": "Programmazione del 6502", "author": ["Rodnay Zaks", None]}
    path.write_text(json.dumps([book | {"subjects": ["Technology", "Assembly"], "publisher": "Jackson Libri"}]))
    [row] = rows_of(path, cover="covers/{isbn}.webp")
    assert row.get("subjects") == "Technology; Assembly" and row.get("publisher") == "Jackson Libri"
    assert row.get("author") == "Rodnay Zaks"  # a list of one author (and a null) is that author, not "['...']"


def test_latin1_and_bom_csv(tmp_path: Path):
    latin = tmp_path / "latin.csv"
    latin.write_bytes("title,author,cover\nCafé Noël,Zoë Brontë,x.png\n".encode("latin-1"))
    bom = tmp_path / "bom.csv"
    bom.write_bytes("title,author,cover\nÉté,Anaïs,x.png\n".encode("utf-8-sig"))
    [row] = rows_of(latin)
    assert row.get("title") == "Café Noël" and row.get("author") == "Zoë Brontë"
    [row] = rows_of(bom)
    assert row.get("title") == "Été"  # the BOM is not glued to the first column name


def test_ragged_csv_rows_are_rejected_with_reason(tmp_path: Path):
    path = tmp_path / "ragged.csv"
    path.write_text("title,author,cover\nA,B,a.png\nC,D,c.png,extra\nE\nF,G,f.png\n")
    rows = rows_of(path)
    kinds = [type(row).__name__ for row in rows]
    assert kinds == ["CatalogRow", "Rejection", "Rejection", "CatalogRow"]
    assert "ragged row: 4 fields, header has 3" in rows[1].reason and rows[1].row == 3
    assert "ragged row: 1 fields" in rows[2].reason


def test_folder_of_images_with_sidecar(tmp_path: Path):
    from PIL import Image

    (tmp_path / "sub").mkdir()
    Image.new("RGB", (40, 60), "red").save(tmp_path / "the_red_book.png")
    Image.new("RGB", (40, 60), "blue").save(tmp_path / "sub" / "blue.jpg")
    (tmp_path / "sub" / "blue.json").write_text(json.dumps({"title": "A Blue Study", "author": "Kim Sol"}))
    rows = {row.get("cover"): row for row in rows_of(tmp_path)}
    assert rows["the_red_book.png"].get("title") == "the red book"
    assert rows["sub/blue.jpg"].get("title") == "A Blue Study" and rows["sub/blue.jpg"].get("author") == "Kim Sol"


def test_an_oversized_field_rejects_its_row_and_the_rest_is_read(tmp_path: Path):
    path = tmp_path / "big.csv"
    huge = "word " * 2_000_000  # 10 MB: beyond the csv module's default limit of 131,072 characters
    path.write_text(
        "id,title,description,cover\n"
        "a,Before,Fine.,a.png\n"
        f'b,Huge,"{huge}",b.png\n'
        f"c,Just over,{'x' * (MAX_FIELD_CHARS + 1)},c.png\n"
        "d,After,Fine too.,d.png\n"
    )
    rows = rows_of(path)
    assert [type(row).__name__ for row in rows] == ["CatalogRow", "Rejection", "Rejection", "CatalogRow"]
    assert rows[0].book_id == "a" and rows[3].book_id == "d"
    assert rows[1].book_id == "b" and "'description' too long: 10,000,000 characters" in rows[1].reason
    assert rows[2].row == 4 and f"limit is {MAX_FIELD_CHARS:,}" in rows[2].reason


LATIN = "id,title,author,cover\nb1,Café Crème à Noël,Zoë Brontë,x.png\nb2,Señorita,José Núñez,y.png\n"
CP1252 = "id,title,author,cover\nb3,“Quoted” – a €5 tale,Ann O’Neil,z.png\n"


@pytest.mark.parametrize(
    ("text", "encoding"), [(LATIN, "latin-1"), (CP1252, "cp1252"), (LATIN + CP1252[22:], "cp1252")]
)
def test_a_catalog_that_is_not_utf8_is_read_right_and_the_guess_is_said(tmp_path: Path, text: str, encoding: str):
    path = tmp_path / "books.csv"
    path.write_bytes(text.encode(encoding))
    reader = CatalogReader(path)
    titles = [row.get("title") for row in reader]
    expected = [line.split(",")[1] for line in text.splitlines()[1:]]
    assert titles == expected
    [note] = reader.notes
    assert "not UTF-8" in note and "confidence" in note and "--encoding" in note


@pytest.mark.parametrize(
    ("text", "encoding"),
    [("Zażółć gęślą jaźń,x.png\nŁódź i Kraków,y.png", "cp1250"), ("Война и мир,x.png\nАнна Каренина,y.png", "cp1251")],
)
def test_a_catalog_in_another_script_is_not_forced_into_cp1252(tmp_path: Path, text: str, encoding: str):
    path = tmp_path / "books.csv"
    path.write_bytes(f"title,cover\n{text}\n".encode(encoding))
    reader = CatalogReader(path)
    assert [row.get("title") for row in reader] == [line.split(",")[0] for line in text.splitlines()]
    assert f"read as {encoding}" in reader.notes[0]


def test_utf8_is_preferred_and_a_declared_encoding_comes_next(tmp_path: Path):
    utf8 = tmp_path / "utf8.csv"
    utf8.write_text(LATIN, encoding="utf-8")
    reader = CatalogReader(utf8, encoding="latin-1")  # valid UTF-8 is UTF-8
    assert next(row.get("title") for row in reader) == "Café Crème à Noël" and not reader.notes
    greek = tmp_path / "greek.csv"
    greek.write_bytes("id,title,cover\ng1,Οδύσσεια,x.png\n".encode("iso8859_7"))
    declared = CatalogReader(greek, encoding="iso8859_7")
    assert [row.get("title") for row in declared] == ["Οδύσσεια"] and not declared.notes


def test_a_semicolon_separated_csv_is_read(tmp_path: Path):
    path = tmp_path / "books.csv"
    path.write_text("id;title;author;cover\nb1;Salt, and Silver;Ina Vale;a.png\n")
    reader = CatalogReader(path)
    [row] = list(reader)
    assert row.get("title") == "Salt, and Silver" and row.get("cover") == "a.png"
    assert any("';'" in note for note in reader.notes)
