"""The Pydantic types strip, validate and report every bad field at once."""

from __future__ import annotations

import pytest
from pydantic import BaseModel, ValidationError

from onewindow.refdata.types import (
    USCC,
    CiqOffice,
    ContainerKind,
    ContainerNumber,
    Country,
    Currency,
    CustomsOffice,
    HSCode,
    LevyKind,
    LocationCode,
    PackageType,
    Port,
    SizeType,
    TradeMode,
    TransactionMode,
    TransportMode,
    UnitCode,
)


class Container(BaseModel):
    number: ContainerNumber
    size_type: SizeType


class Goods(BaseModel):
    hs_code: HSCode
    unit: UnitCode
    origin: Country


class Declaration(BaseModel):
    declarant: USCC
    customs_office: CustomsOffice
    ciq_office: CiqOffice
    trade_mode: TradeMode
    transport_mode: TransportMode
    transaction_mode: TransactionMode
    currency: Currency
    loading_port: Port
    destination: LocationCode
    package_type: PackageType
    levy_kind: LevyKind
    container_kind: ContainerKind
    containers: list[Container]
    goods: list[Goods]


VALID = {
    "declarant": "91110000600037341L",
    "customs_office": "2200",
    "ciq_office": "310000",
    "trade_mode": "0110",
    "transport_mode": "2",
    "transaction_mode": "1",
    "currency": "USD",
    "loading_port": "CNSHG",
    "destination": "CNSHA",
    "package_type": "22",
    "levy_kind": "101",
    "container_kind": "11",
    "containers": [{"number": "CSQU3054383", "size_type": "22G1"}],
    "goods": [{"hs_code": "0303899090", "unit": "035", "origin": "NOR"}],
}


def test_valid_declaration():
    declaration = Declaration.model_validate(VALID)
    assert declaration.containers[0].number == "CSQU3054383"
    assert declaration.goods[0].hs_code == "0303899090"


def test_surrounding_whitespace_is_stripped():
    goods = Goods(hs_code=" 0303899090\n", unit="\t035 ", origin=" NOR ")
    assert (goods.hs_code, goods.unit, goods.origin) == ("0303899090", "035", "NOR")
    assert Container(number="  CSQU3054383 ", size_type=" 45G1").number == "CSQU3054383"


def test_several_errors_are_collected_with_their_location():
    payload = dict(
        VALID,
        trade_mode="9999",
        currency="BRL",
        containers=[
            {"number": "CSQU3054383", "size_type": "22G1"},
            {"number": "CSQU3054384", "size_type": "22GP"},
        ],
        goods=[{"hs_code": "9999999999", "unit": "035", "origin": "CHN"}],
    )
    with pytest.raises(ValidationError) as info:
        Declaration.model_validate(payload)
    errors = {err["loc"]: (err["type"], err["msg"]) for err in info.value.errors()}
    assert errors == {
        ("trade_mode",): ("trade_mode", "unknown trade mode (监管方式) code '9999'"),
        ("currency",): ("currency", "currency 'BRL' is an ISO 4217 code but is not accepted by customs (币制)"),
        ("containers", 1, "number"): ("container_number", "ISO 6346 check digit is wrong"),
        ("containers", 1, "size_type"): (
            "size_type", "container type 'GP' must be a type group letter and a digit, e.g. G1"),
        ("goods", 0, "hs_code"): ("hs_code", "tariff code 99999999 does not exist in China's 2023 customs tariff"),
    }


def test_messages_have_no_value_error_prefix():
    with pytest.raises(ValidationError) as info:
        Container(number="CSQU3054384", size_type="22G1")
    (error,) = info.value.errors()
    assert error["msg"] == "ISO 6346 check digit is wrong"
    assert "Value error" not in str(info.value)


def test_braces_in_input_are_kept_in_the_message():
    with pytest.raises(ValidationError) as info:
        Goods(hs_code="0303899090", unit="{0}", origin="CHN")
    assert info.value.errors()[0]["msg"] == "unknown unit (计量单位) code '{0}'"


def test_non_strings_are_rejected_by_pydantic():
    with pytest.raises(ValidationError) as info:
        Goods(hs_code=303899090, unit="035", origin="CHN")
    assert info.value.errors()[0]["type"] == "string_type"


@pytest.mark.parametrize(("field", "value", "kind"), [
    ("declarant", "91110000600037341X", "uscc"),
    ("customs_office", "22", "customs_office"),
    ("ciq_office", "3100", "ciq_office"),
    ("transport_mode", "A", "transport_mode"),
    ("transaction_mode", "9", "transaction_mode"),
    ("loading_port", "USLAX", "port"),
    ("destination", "CNXXX", "location"),
    ("package_type", "02", "package_type"),
    ("levy_kind", "100", "levy_kind"),
    ("container_kind", "99", "container_kind"),
])
def test_each_type_reports_its_kind(field, value, kind):
    with pytest.raises(ValidationError) as info:
        Declaration.model_validate(dict(VALID, **{field: value}))
    (error,) = info.value.errors()
    assert error["loc"] == (field,)
    assert error["type"] == kind


def test_json_schema_describes_the_fields():
    schema = Goods.model_json_schema()["properties"]["hs_code"]
    assert schema["type"] == "string"
    assert schema["examples"] == ["0303899090"]
    assert "China commodity number" in schema["description"]
