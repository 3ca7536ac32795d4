"""Each validator accepts real codes and names what is wrong with bad ones."""

from __future__ import annotations

import dataclasses
import string

import pytest
from hypothesis import given
from hypothesis import strategies as st
from stdnum import iso6346
from stdnum.cn import uscc

from onewindow.refdata import get_refdata, validators
from onewindow.refdata.validators import (
    HEIGHT_WIDTH_CODES,
    LENGTH_CODES,
    PARAM_LABELS,
    TYPE_GROUPS,
    check_ciq_office,
    check_container_number,
    check_country,
    check_currency,
    check_customs_office,
    check_hs_code,
    check_location,
    check_param,
    check_port,
    check_size_type,
    check_uscc,
)

# From python-stdnum's ISO 6346 tests and the equipment (EQD) segments of
# public UN/EDIFACT BAPLIE and COARRI sample messages.
VALID_CONTAINERS = [
    "CSQU3054383", "TCNU7200794", "TOLU4734787", "GYOU4047990",
    "OOLU4293959", "MOEU0710945", "OOLU8757889",
    "FCIU9908030", "MAGU5591240", "CBHU6192031", "CBHU8671943", "TEMU7359214", "CBHU6292344",
    "CBHU9515082", "TRLU8132090", "CBHU6411248", "TTNU4873285", "FSCU8710190", "UETU4004602",
    "CBHU6351154", "TEMU3412100", "FSCU8459470", "SEGU4658302", "BSIU9567158", "TRLU7321376",
    "CBHU8131755", "FSCU5025633", "CAXU3190016",
    "SUDU1234569",
]
BAD_CHECK_DIGIT = "ISO 6346 check digit is wrong"
BAD_CONTAINER_FORMAT = "container number must be 4 letters and 7 digits, e.g. CSQU3054383"


# --- HS codes -----------------------------------------------------------------

@pytest.mark.parametrize("code", ["0303899090", "03038990", "0101210000", "8471301000", "9801001000"])
def test_hs_code_valid(code):
    assert check_hs_code(code) is None


@pytest.mark.parametrize(("code", "message"), [
    ("03038990AB", "HS code must contain digits only"),
    ("0303.8990", "HS code must contain digits only"),
    ("", "HS code must contain digits only"),
    ("０３０３８９９０", "HS code must contain digits only"),
    ("030389", "HS code must have 10 digits (8-digit tariff code and 2-digit supplement) or 8 digits"),
    ("030389909", "HS code must have 10 digits (8-digit tariff code and 2-digit supplement) or 8 digits"),
    ("03038990901", "HS code must have 10 digits (8-digit tariff code and 2-digit supplement) or 8 digits"),
    ("9999999999", "tariff code 99999999 does not exist in China's 2023 customs tariff"),
    ("0303899190", "tariff code 03038991 does not exist in China's 2023 customs tariff"),
    ("8471300000", "tariff code 84713000 does not exist in China's 2023 customs tariff"),
    ("0303000000", "HS subheading 030300 does not exist in HS 2022"),
    ("7777777777", "HS subheading 777777 does not exist in HS 2022"),
])
def test_hs_code_invalid(code, message):
    assert check_hs_code(code) == message


def test_every_tariff_code_is_valid_with_any_supplement():
    for code in get_refdata().cn8:
        assert check_hs_code(code) is None
        assert check_hs_code(code + "99") is None


# --- container numbers --------------------------------------------------------

@pytest.mark.parametrize("number", VALID_CONTAINERS)
def test_container_number_valid(number):
    assert check_container_number(number) is None


@pytest.mark.parametrize(("number", "message"), [
    ("CSQU3054384", BAD_CHECK_DIGIT),
    ("CSQU305438", BAD_CONTAINER_FORMAT),
    ("CSQU3054Z83", BAD_CONTAINER_FORMAT),
    ("", BAD_CONTAINER_FORMAT),
    ("CSQ3054383", BAD_CONTAINER_FORMAT),
    ("csqu3054383", "container number must be written in capitals without spaces or hyphens, e.g. CSQU3054383"),
    ("CSQU 305438 3", "container number must be written in capitals without spaces or hyphens, e.g. CSQU3054383"),
    ("CSQU-305438-3", "container number must be written in capitals without spaces or hyphens, e.g. CSQU3054383"),
    ("CSQA3054383", "the fourth letter of a container number (equipment category) must be U, J or Z"),
])
def test_container_number_invalid(number, message):
    assert check_container_number(number) == message


owner_and_serial = st.tuples(
    st.text(string.ascii_uppercase, min_size=3, max_size=3),
    st.sampled_from("UJZ"),
    st.text("0123456789", min_size=6, max_size=6),
).map("".join)


@given(owner_and_serial)
def test_container_number_with_computed_check_digit_is_valid(base):
    assert check_container_number(base + iso6346.calc_check_digit(base)) is None


@given(owner_and_serial, st.sampled_from("0123456789"))
def test_container_number_with_any_other_check_digit_is_invalid(base, digit):
    if digit != iso6346.calc_check_digit(base):
        assert check_container_number(base + digit) == BAD_CHECK_DIGIT


@given(st.text(max_size=15))
def test_container_number_never_crashes(text):
    result = check_container_number(text)
    assert result is None or isinstance(result, str)


# --- size and type codes ------------------------------------------------------

@pytest.mark.parametrize("code", ["22G1", "42G1", "45G1", "45R1", "22T6", "L5G1", "22U1", "42P3", "20G0", "LEG1"])
def test_size_type_valid(code):
    assert check_size_type(code) is None


@pytest.mark.parametrize(("code", "message"), [
    ("2G1", "size-type code must have 4 characters, e.g. 22G1 or 45G1"),
    ("22G10", "size-type code must have 4 characters, e.g. 22G1 or 45G1"),
    ("22g1", "size-type code must be written in capitals, e.g. 22G1"),
    ("Z2G1", "unknown ISO 6346 length code 'Z' in size-type code"),
    ("5 G1", "unknown ISO 6346 length code '5' in size-type code"),
    ("27G1", "unknown ISO 6346 height/width code '7' in size-type code"),
    ("22X1", "unknown ISO 6346 container type group 'X' in size-type code"),
    ("22GP", "container type 'GP' must be a type group letter and a digit, e.g. G1"),
    ("45R ", "container type 'R ' must be a type group letter and a digit, e.g. G1"),
])
def test_size_type_invalid(code, message):
    assert check_size_type(code) == message


@given(st.sampled_from(sorted(LENGTH_CODES)), st.sampled_from(sorted(HEIGHT_WIDTH_CODES)),
       st.sampled_from(sorted(TYPE_GROUPS)), st.sampled_from("0123456789"))
def test_size_type_any_combination_of_known_codes(length, height, group, digit):
    assert check_size_type(length + height + group + digit) is None


# --- USCC ---------------------------------------------------------------------

uscc_base = st.tuples(
    st.text("0123456789", min_size=8, max_size=8),
    st.text("0123456789ABCDEFGHJKLMNPQRTUWXY", min_size=9, max_size=9),
).map("".join)


@pytest.mark.parametrize("code", ["91110000600037341L", "91310000MA1FL1234Q"])
def test_uscc_valid(code):
    assert check_uscc(code) is None


@pytest.mark.parametrize(("code", "message"), [
    ("91110000600037341X", "unified social credit code check character is wrong"),
    ("9111000060003734", "unified social credit code must have 18 characters"),
    ("91110000 600037341L", "unified social credit code must have 18 characters"),
    ("91110000600037341l", "unified social credit code must be 8 digits then 10 digits or capital letters "
                           "(no I, O, S, V or Z)"),
    ("9111000060003734IL", "unified social credit code must be 8 digits then 10 digits or capital letters "
                           "(no I, O, S, V or Z)"),
    ("A1110000600037341L", "unified social credit code must be 8 digits then 10 digits or capital letters "
                           "(no I, O, S, V or Z)"),
])
def test_uscc_invalid(code, message):
    assert check_uscc(code) == message


@given(uscc_base)
def test_uscc_with_computed_check_character_is_valid(base):
    assert check_uscc(base + uscc.calc_check_digit(base)) is None


# --- countries and currencies -------------------------------------------------

@pytest.mark.parametrize("code", ["CHN", "USA", "DEU", "HKG", "TWN", "ALA"])
def test_country_valid(code):
    assert check_country(code) is None


@pytest.mark.parametrize(("code", "message"), [
    ("chn", "country code must be 3 capital letters (ISO 3166 alpha-3), e.g. CHN"),
    ("CN", "country code must be 3 capital letters (ISO 3166 alpha-3), e.g. CHN"),
    ("156", "country code must be 3 capital letters (ISO 3166 alpha-3), e.g. CHN"),
    ("XXX", "'XXX' is not an ISO 3166 alpha-3 country code"),
    ("CAI", "'CAI' is not an ISO 3166 alpha-3 country code"),  # customs-only code (Canary Islands)
])
def test_country_invalid(code, message):
    assert check_country(code) == message


def test_country_in_iso_but_not_in_customs_table(monkeypatch):
    data = get_refdata()
    params = dict(data.params, country={k: v for k, v in data.params["country"].items() if k != "DEU"})
    monkeypatch.setattr(validators, "get_refdata", lambda: dataclasses.replace(data, params=params))
    assert check_country("DEU") == "country 'DEU' is not in the customs country table (国别地区)"
    assert check_country("FRA") is None


@pytest.mark.parametrize("code", sorted(get_refdata().params["currency"]))
def test_every_customs_currency_is_valid(code):
    assert check_currency(code) is None


@pytest.mark.parametrize(("code", "message"), [
    ("usd", "currency code must be 3 capital letters (ISO 4217), e.g. CNY"),
    ("US$", "currency code must be 3 capital letters (ISO 4217), e.g. CNY"),
    ("XYZ", "'XYZ' is not an ISO 4217 currency code"),
    ("RMB", "'RMB' is not an ISO 4217 currency code"),
    ("BRL", "currency 'BRL' is an ISO 4217 code but is not accepted by customs (币制)"),
])
def test_currency_invalid(code, message):
    assert check_currency(code) == message


# --- locations and ports ------------------------------------------------------

@pytest.mark.parametrize("code", ["CNDAG", "CNQDG", "CNSHG", "CNSHA", "CNTAO", "CNDLC", "CNAKU"])
def test_port_accepts_any_chinese_locode(code):
    assert check_port(code) is None
    assert check_location(code) is None


@pytest.mark.parametrize(("code", "message"), [
    ("cnsha", "port code must be a 5-character UN/LOCODE in capitals, e.g. CNSHG"),
    ("CN SHA", "port code must be a 5-character UN/LOCODE in capitals, e.g. CNSHG"),
    ("CNSH", "port code must be a 5-character UN/LOCODE in capitals, e.g. CNSHG"),
    ("USLAX", "port code 'USLAX' is not in China; only Chinese UN/LOCODEs are known"),
    ("CNXXX", "unknown port code 'CNXXX' (not in UN/LOCODE)"),
])
def test_port_invalid(code, message):
    assert check_port(code) == message


def test_location_messages_name_the_field():
    assert check_location("CNXXX") == "unknown location code 'CNXXX' (not in UN/LOCODE)"


# --- parameter tables and offices ---------------------------------------------

@pytest.mark.parametrize(("table", "code"), [
    ("unit", "035"), ("trade_mode", "0110"), ("transport_mode", "2"), ("transaction_mode", "1"),
    ("package_type", "22"), ("levy_kind", "101"), ("container_kind", "11"), ("country", "CHN"),
    ("currency", "CNY"),
])
def test_param_valid(table, code):
    assert check_param(table, code) is None


@pytest.mark.parametrize(("table", "code", "message"), [
    ("trade_mode", "9999", "unknown trade mode (监管方式) code '9999'"),
    ("trade_mode", "110", "unknown trade mode (监管方式) code '110'"),
    ("unit", "09", "unknown unit (计量单位) code '09'"),
    ("transport_mode", "A", "unknown transport mode (运输方式) code 'A'"),
    ("transaction_mode", "8", "unknown transaction mode (成交方式) code '8'"),
    ("package_type", "02", "unknown package type (包装种类) code '02'"),
    ("levy_kind", "100", "unknown levy kind (征免性质) code '100'"),
    ("container_kind", "99", "unknown container kind (集装箱规格) code '99'"),
])
def test_param_invalid(table, code, message):
    assert check_param(table, code) == message


def test_param_labels_cover_every_table():
    assert set(PARAM_LABELS) == set(get_refdata().params)


def test_param_unknown_table_is_a_programming_error():
    with pytest.raises(KeyError):
        check_param("ports", "CNSHA")


@pytest.mark.parametrize("code", ["2200", "0100", "5300"])
def test_customs_office_valid(code):
    assert check_customs_office(code) is None


@pytest.mark.parametrize("code", ["220", "22000", "22A0", "", "２２００", "2200\n"])
def test_customs_office_invalid(code):
    assert check_customs_office(code) == "customs office code (关区代码) must be exactly 4 digits, e.g. 2200"


@pytest.mark.parametrize("code", ["310000", "110100"])
def test_ciq_office_valid(code):
    assert check_ciq_office(code) is None


@pytest.mark.parametrize("code", ["31000", "3100000", "31000A", ""])
def test_ciq_office_invalid(code):
    assert check_ciq_office(code) == (
        "inspection office code (检验检疫机关代码) must be exactly 6 digits, e.g. 310000")
