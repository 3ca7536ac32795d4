"""The shipped reference tables load completely and correctly."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from onewindow.refdata import PARAM_TABLES, get_refdata, load_refdata
from onewindow.refdata.tables import _load_cn8_file

DATA_DIR = Path(__file__).resolve().parents[2] / "src" / "onewindow" / "refdata" / "data"


def test_hs2022_counts():
    data = get_refdata()
    assert len(data.hs6) == 5613
    assert len(data.hs_headings) == 1229
    assert len(data.hs_chapters) == 97
    assert len(data.hs_sections) == 21


def test_hs_sections_file_bom_is_dropped():
    assert (DATA_DIR / "hs2022_sections.csv").read_bytes().startswith(b"\xef\xbb\xbf")
    sections = get_refdata().hs_sections
    assert "I" in sections
    assert sections["II"] == "Vegetable products"


def test_hs_descriptions():
    data = get_refdata()
    assert data.hs_chapters["01"] == "Animals; live"
    assert data.hs_headings["0101"] == "Horses, asses, mules and hinnies; live"
    assert data.hs6["010121"] == "Horses; live, pure-bred breeding animals"
    assert "TOTAL" not in data.hs_chapters


def test_cn8_count_matches_the_code_lines_of_both_files():
    # 8,981 text lines but 8,957 records: some names span several lines.
    cn8 = get_refdata().cn8
    assert len(cn8) == 8957
    for name in ("cn_hs8_2023_zh.csv", "cn_hs8_2023_en.csv"):
        text = (DATA_DIR / name).read_text(encoding="utf-8")
        lines = [line for line in text.splitlines() if line[:8].isdigit()]
        assert len(lines) == 8957
        assert {line[:8] for line in lines} == set(cn8)


def test_cn8_names_and_units():
    horse = get_refdata().cn8["01012100"]
    assert horse.name_zh == "改良种用马"
    assert horse.name_en == "Live pure-bred breeding horses"
    assert (horse.unit1_code, horse.unit1_name_zh, horse.unit1_name_en) == ("09", "千克", "Kilogram")
    assert (horse.unit2_code, horse.unit2_name_zh, horse.unit2_name_en) == ("01", "头", "Number of item")
    assert horse.hs6 == "010121"


def test_cn8_missing_second_unit_is_none():
    beef = get_refdata().cn8["02011000"]
    assert beef.unit2_code is None and beef.unit2_name_zh is None and beef.unit2_name_en is None


def test_cn8_multiline_names_are_joined():
    data = get_refdata().cn8
    assert data["40159010"].name_zh == "硫化橡胶制医疗、外科、牙科或兽医用衣着用品及附件(不包括手套)"
    assert data["30069300"].name_en.startswith(
        "Placebos and blinded (or double-blinded) clinical trial kits for a recognised")
    assert all("\n" not in c.name_zh and "\n" not in c.name_en for c in data.values())


def test_cn8_unescaped_quotes_are_kept():
    data = get_refdata().cn8
    assert data["40118011"].name_en == (
        'New rubber pneumatic tyres with "herring-bone", rim≤61cm, for construction/mining/industrial handling'
    )
    assert data["40118011"].unit2_code == "01"
    assert data["84807110"].name_en == '"Bladder" moulds for vulcanising tyres'


def test_every_cn8_code_has_both_names():
    assert all(c.name_zh and c.name_en for c in get_refdata().cn8.values())


def test_china_national_codes_outside_hs():
    data = get_refdata()
    assert "98010010" in data.cn8 and "980100" not in data.hs6
    assert {c.hs6 for c in data.cn8.values()} - set(data.hs6) == {
        "980100", "980200", "980300", "980400", "980500", "990000"}


def test_damaged_tariff_file_is_an_error():
    text = '01012100,"改良种用马",2023,09,"千克",01,"头",\n01012900,"broken,2023,09\n'
    with pytest.raises(ValueError, match="read 1 records out of 2"):
        _load_cn8_file(text, "bad.csv")


def test_locations():
    locations = get_refdata().locations
    assert len(locations) == 1675
    dalian = locations["CNDAG"]
    assert dalian.name == "Dalian Pt" and dalian.subdivision == "LN" and dalian.is_seaport
    assert not locations["CNDLC"].is_seaport  # the airport
    assert locations["CNSHG"].is_seaport and locations["CNQDG"].is_seaport
    assert sum(loc.is_seaport for loc in locations.values()) == 761


def test_param_tables():
    params = get_refdata().params
    counts = {name: len(params[name]) for name in PARAM_TABLES}
    assert counts == {
        "unit": 123, "country": 264, "levy_kind": 45, "trade_mode": 98, "transaction_mode": 7,
        "transport_mode": 18, "package_type": 13, "currency": 22, "container_kind": 8,
    }
    assert params["trade_mode"]["0110"].name_zh == "一般贸易"
    assert params["unit"]["035"].name_zh == "千克"
    assert params["transaction_mode"]["3"].name_zh == "FOB"
    assert params["transport_mode"]["2"].name_zh == "水路运输"
    assert params["currency"]["USD"].name_en == "US Dollar"
    assert get_refdata().param("country")["CHN"].name_zh == "中国"


def test_get_refdata_is_cached():
    assert get_refdata() is get_refdata()


def test_load_from_a_directory_and_in_time():
    # CPU time, not wall time, so that a busy machine does not fail the test;
    # a load takes about 0.15 s.
    start = time.process_time()
    data = load_refdata(DATA_DIR)
    assert time.process_time() - start < 0.5
    assert data == get_refdata()


def test_missing_directory():
    with pytest.raises(OSError):
        load_refdata(Path("/nonexistent"))
