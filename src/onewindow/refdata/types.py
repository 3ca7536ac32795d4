"""Pydantic v2 field types for declaration codes.

Each type is ``Annotated[str, ...]``: the value is stripped of surrounding
whitespace, checked by the matching validator of
:mod:`onewindow.refdata.validators`, and kept as the stripped string. A bad
value raises a :class:`pydantic_core.PydanticCustomError` whose ``type`` is
the code kind (``hs_code``, ``container_number``...) and whose message is the
validator's message as is (no ``Value error,`` prefix)::

    class Container(BaseModel):
        number: ContainerNumber
        size_type: SizeType
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache, partial
from typing import Annotated

from pydantic import AfterValidator, Field
from pydantic_core import PydanticCustomError

from onewindow.errors import TEXT_KEY

from . import validators as v

__all__ = [
    "HSCode",
    "ContainerNumber",
    "SizeType",
    "USCC",
    "Country",
    "Currency",
    "LocationCode",
    "Port",
    "UnitCode",
    "TradeMode",
    "TransportMode",
    "TransactionMode",
    "PackageType",
    "LevyKind",
    "ContainerKind",
    "CustomsOffice",
    "CiqOffice",
]


CHECKED_VALUES = 4096
"""Answers each field type remembers: an entry repeats a few codes (its currency, country, port, units) and the
reference tables do not change while the process runs."""


def checked(kind: str, check: Callable[[str], str | None]) -> AfterValidator:
    """A Pydantic validator stripping the value and raising ``kind`` with ``check``'s message (the last
    :data:`CHECKED_VALUES` answers remembered)."""
    check = lru_cache(maxsize=CHECKED_VALUES)(check)

    def validate(value: str) -> str:
        value = value.strip()
        message = check(value)
        if message is not None:
            # The context carries the message itself (a Text, which pages translate); the message has
            # no placeholder of its own, so the user's input in it is kept as it is.
            raise PydanticCustomError(kind, message, {TEXT_KEY: message})
        return value

    validate.__name__ = f"check_{kind}"
    return AfterValidator(validate)


def _param(table: str) -> Callable[[str], str | None]:
    """check_param bound to one customs parameter table."""
    return partial(v.check_param, table)


HSCode = Annotated[
    str,
    checked("hs_code", v.check_hs_code),
    Field(description="China commodity number: 10 digits (or 8), in the 2023 tariff", examples=["0303899090"]),
]
ContainerNumber = Annotated[
    str,
    checked("container_number", v.check_container_number),
    Field(description="ISO 6346 container number with check digit", examples=["CSQU3054383"]),
]
SizeType = Annotated[
    str,
    checked("size_type", v.check_size_type),
    Field(description="ISO 6346 size-and-type code", examples=["22G1", "45G1"]),
]
USCC = Annotated[
    str,
    checked("uscc", v.check_uscc),
    Field(description="Unified Social Credit Code (统一社会信用代码)", examples=["91110000600037341L"]),
]
Country = Annotated[
    str,
    checked("country", v.check_country),
    Field(description="ISO 3166 alpha-3 country code (国别地区)", examples=["CHN"]),
]
Currency = Annotated[
    str,
    checked("currency", v.check_currency),
    Field(description="ISO 4217 currency code accepted by customs (币制)", examples=["USD"]),
]
LocationCode = Annotated[
    str,
    checked("location", v.check_location),
    Field(description="UN/LOCODE of a location in China", examples=["CNSHG"]),
]
Port = Annotated[
    str,
    checked("port", v.check_port),
    Field(description="UN/LOCODE of a port in China", examples=["CNDAG"]),
]
UnitCode = Annotated[
    str,
    checked("unit", _param("unit")),
    Field(description="Customs unit code (计量单位)", examples=["035"]),
]
TradeMode = Annotated[
    str,
    checked("trade_mode", _param("trade_mode")),
    Field(description="Trade mode code (监管方式)", examples=["0110"]),
]
TransportMode = Annotated[
    str,
    checked("transport_mode", _param("transport_mode")),
    Field(description="Transport mode code (运输方式)", examples=["2"]),
]
TransactionMode = Annotated[
    str,
    checked("transaction_mode", _param("transaction_mode")),
    Field(description="Transaction mode code (成交方式)", examples=["1"]),
]
PackageType = Annotated[
    str,
    checked("package_type", _param("package_type")),
    Field(description="Package type code (包装种类)", examples=["22"]),
]
LevyKind = Annotated[
    str,
    checked("levy_kind", _param("levy_kind")),
    Field(description="Levy kind code (征免性质)", examples=["101"]),
]
ContainerKind = Annotated[
    str,
    checked("container_kind", _param("container_kind")),
    Field(description="Container kind code (集装箱规格)", examples=["11"]),
]
CustomsOffice = Annotated[
    str,
    checked("customs_office", v.check_customs_office),
    Field(description="Customs office code (关区代码), 4 digits", examples=["2200"]),
]
CiqOffice = Annotated[
    str,
    checked("ciq_office", v.check_ciq_office),
    Field(description="Inspection and quarantine office code (检验检疫机关代码), 6 digits", examples=["310000"]),
]
