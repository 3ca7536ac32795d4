"""The inspection catalogue: default content, longest prefix, malformed files."""

from __future__ import annotations

from pathlib import Path

import pytest

from onewindow.refdata import CATEGORIES, CatalogueEntry, InspectionCatalogue, get_catalogue

HEADER = "hs_prefix,category,name_zh,name_en\n"


def write(tmp_path: Path, body: str, header: str = HEADER, name: str = "catalogue.csv") -> Path:
    path = tmp_path / name
    path.write_text(header + body, encoding="utf-8")
    return path


# --- the shipped catalogue ----------------------------------------------------

@pytest.mark.parametrize(("hs_code", "prefix", "category"), [
    ("0101210000", "01", "animal_quarantine"),
    ("0303899090", "03", "animal_quarantine"),
    ("0511999000", "05", "animal_quarantine"),
    ("0603110000", "06", "plant_quarantine"),
    ("1001990000", "10", "plant_quarantine"),
    ("1507100000", "15", "food_safety"),
    ("2203000000", "22", "food_safety"),
    ("2309901000", "23", "feed_safety"),
    ("2401101000", "2401", "plant_quarantine"),
    ("4403110000", "4403", "plant_quarantine"),
    ("4407110000", "4407", "plant_quarantine"),
    ("4415200000", "4415", "wood_packaging"),
    ("4501100000", "4501", "plant_quarantine"),
    ("5101110000", "5101", "animal_quarantine"),
    ("5201000000", "5201", "plant_quarantine"),
    ("6506100000", "650610", "commodity_inspection"),
    ("8418102000", "8418", "commodity_inspection"),
    ("8450111000", "8450", "commodity_inspection"),
    ("8516601000", "8516", "commodity_inspection"),
    ("9503001000", "9503", "commodity_inspection"),
])
def test_default_catalogue_covers(hs_code, prefix, category):
    entry = get_catalogue().lookup(hs_code)
    assert entry is not None
    assert (entry.hs_prefix, entry.category) == (prefix, category)
    assert entry.name_zh and entry.name_en
    assert get_catalogue().needs_inspection(hs_code)


@pytest.mark.parametrize("hs_code", [
    "2402200000",  # cigarettes: manufactured tobacco
    "4405000000",  # wood wool
    "4408109000",  # veneer sheets
    "4502000000",  # natural cork, in blocks
    "5104000000",  # garnetted stock of wool
    "5204110000",  # cotton sewing thread
    "6506990000",  # other headgear
    "8471301000",  # tablet computers
    "24",          # a heading entry does not cover its whole chapter
])
def test_default_catalogue_leaves_out(hs_code):
    assert get_catalogue().lookup(hs_code) is None
    assert not get_catalogue().needs_inspection(hs_code)


def test_default_catalogue_size_and_categories():
    catalogue = get_catalogue()
    assert len(catalogue) == 43
    assert {entry.category for entry in catalogue.entries} <= set(CATEGORIES)
    assert [e.hs_prefix for e in catalogue.entries] == sorted(e.hs_prefix for e in catalogue.entries)
    assert {f"{n:02d}" for n in range(1, 24)} <= {e.hs_prefix for e in catalogue.entries}


def test_get_catalogue_is_cached_per_path(tmp_path):
    assert get_catalogue() is get_catalogue()
    path = write(tmp_path, "01,animal_quarantine,活动物,Live animals\n")
    assert get_catalogue(path) is get_catalogue(str(path))
    assert get_catalogue(path) is not get_catalogue()
    assert get_catalogue(path).source == str(path)


# --- longest prefix -----------------------------------------------------------

def test_longest_prefix_wins(tmp_path):
    path = write(tmp_path, "\n".join([
        "84,commodity_inspection,核反应堆、锅炉、机器,Machinery",
        "8418,food_safety,冰箱,Refrigerators",
        "841810,animal_quarantine,组合冷藏冷冻箱,Combined refrigerator-freezers",
        "84181020,plant_quarantine,容积>500升的冷藏冷冻箱,Large refrigerator-freezers",
    ]) + "\n")
    catalogue = InspectionCatalogue.load(path)
    assert catalogue.lookup("8418102000").hs_prefix == "84181020"
    assert catalogue.lookup("8418").hs_prefix == "8418"
    assert catalogue.lookup("841").hs_prefix == "84"
    assert catalogue.lookup("84181020").category == "plant_quarantine"
    assert catalogue.lookup("8418103000").hs_prefix == "841810"
    assert catalogue.lookup("8418210000").hs_prefix == "8418"
    assert catalogue.lookup("8471301000").hs_prefix == "84"
    assert catalogue.lookup(" 8418102000 ").hs_prefix == "84181020"
    assert catalogue.lookup("8501100000") is None
    assert catalogue.lookup("") is None
    assert catalogue.lookup("abc") is None


def test_in_memory_catalogue():
    catalogue = InspectionCatalogue([CatalogueEntry("9503", "commodity_inspection", "玩具", "Toys")])
    assert catalogue.needs_inspection("9503001000")
    assert not catalogue.needs_inspection("9504000000")
    assert catalogue.source == "<memory>"


def test_byte_order_mark_and_blank_lines_are_accepted(tmp_path):
    path = tmp_path / "bom.csv"
    path.write_bytes(b"\xef\xbb\xbf" + (HEADER + "\n9503,commodity_inspection,,Toys\n\n").encode())
    catalogue = InspectionCatalogue.load(path)
    assert catalogue.lookup("9503001000") == CatalogueEntry("9503", "commodity_inspection", "", "Toys")


def test_empty_catalogue_needs_nothing(tmp_path):
    assert len(InspectionCatalogue.load(write(tmp_path, ""))) == 0


# --- malformed files ----------------------------------------------------------

@pytest.mark.parametrize(("body", "line", "problem"), [
    ("01,animal_quarantine,a,b\n1,animal_quarantine,a,b\n", 3, "hs_prefix '1' must have 2, 4, 6 or 8 digits"),
    ("010,animal_quarantine,a,b\n", 2, "hs_prefix '010' must have 2, 4, 6 or 8 digits"),
    ("0101210000,animal_quarantine,a,b\n", 2, "hs_prefix '0101210000' must have 2, 4, 6 or 8 digits"),
    ("01a1,animal_quarantine,a,b\n", 2, "hs_prefix '01a1' must have 2, 4, 6 or 8 digits"),
    (",animal_quarantine,a,b\n", 2, "hs_prefix '' must have 2, 4, 6 or 8 digits"),
    ("00,animal_quarantine,a,b\n", 2, "hs_prefix '00' is not an HS 2022 chapter"),
    ("0110,animal_quarantine,a,b\n", 2, "hs_prefix '0110' is not an HS 2022 heading"),
    ("010100,animal_quarantine,a,b\n", 2, "hs_prefix '010100' is not an HS 2022 subheading"),
    ("03038999,animal_quarantine,a,b\n", 2, "hs_prefix '03038999' is not a code of China's 2023 customs tariff"),
    ("01,quarantine,a,b\n", 2, "unknown category 'quarantine' (expected one of animal_quarantine, "),
    ("01,animal_quarantine,a,b\n02,animal_quarantine,a,b\n01,food_safety,c,d\n", 4,
     "duplicate hs_prefix '01' (first on line 2)"),
    ("01,animal_quarantine,a\n", 2, "expected 4 columns (hs_prefix,category,name_zh,name_en)"),
    ("01,animal_quarantine,a,b,c\n", 2, "expected 4 columns (hs_prefix,category,name_zh,name_en)"),
])
def test_malformed_rows(tmp_path, body, line, problem):
    path = write(tmp_path, body)
    with pytest.raises(ValueError) as info:
        InspectionCatalogue.load(path)
    assert str(info.value).startswith(f"{path}, line {line}: {problem}")


@pytest.mark.parametrize("header", ["", "prefix,category,name_zh,name_en\n", "hs_prefix,category\n"])
def test_malformed_header(tmp_path, header):
    path = write(tmp_path, "01,animal_quarantine,a,b\n", header=header) if header else write(tmp_path, "", header="")
    with pytest.raises(ValueError, match=r", line 1: header must be hs_prefix,category,name_zh,name_en"):
        InspectionCatalogue.load(path)


def test_line_numbers_count_physical_lines(tmp_path):
    path = write(tmp_path, '01,animal_quarantine,a,"two\nlines"\n02,nope,a,b\n')
    with pytest.raises(ValueError, match=r"line 4: unknown category 'nope'"):
        InspectionCatalogue.load(path)


def test_not_utf8(tmp_path):
    path = tmp_path / "gbk.csv"
    path.write_bytes((HEADER + "01,animal_quarantine,活动物,Live animals\n").encode("gb18030"))
    with pytest.raises(ValueError, match="not UTF-8 text"):
        InspectionCatalogue.load(path)


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError):
        get_catalogue(tmp_path / "missing.csv")


def test_failed_load_is_not_cached(tmp_path):
    path = tmp_path / "later.csv"
    with pytest.raises(FileNotFoundError):
        get_catalogue(path)
    path.write_text(HEADER + "9503,commodity_inspection,玩具,Toys\n", encoding="utf-8")
    assert get_catalogue(path).needs_inspection("9503001000")


def test_documented_default_content_matches_the_shipped_file():
    doc = Path(__file__).resolve().parents[2] / "docs" / "reference-data.md"
    text = doc.read_text(encoding="utf-8").split("### Default content", 1)[1]
    rows = [line.strip("|").split("|") for line in text.splitlines() if line.startswith("| `")]
    documented = [tuple(cell.strip().strip("`") for cell in row) for row in rows]
    shipped = [(e.hs_prefix, e.category, e.name_zh, e.name_en) for e in get_catalogue().entries]
    assert documented == shipped
