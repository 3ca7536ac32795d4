"""Validators for the codes found on customs and inspection declarations.

Every ``check_*`` function is pure: it returns ``None`` when the value is
valid, or a short English message saying what is wrong, as an
:class:`onewindow.errors.Text` (a ``str`` that pages translate). The messages
are shown to users (as the ``msg`` of a field error), so they name the
field's meaning and, where useful, give an example of a valid value.

Values are checked exactly as given: callers strip surrounding whitespace
first (the Pydantic types in :mod:`onewindow.refdata.types` do).
"""

from __future__ import annotations

import re

import pycountry
from stdnum import iso6346
from stdnum.cn import uscc

from onewindow.errors import Text

from .tables import get_refdata

# ISO 6346 (1995 and later editions), size and type code, first character:
# the length code. Digits are the classic lengths; letters cover the other
# lengths defined by the standard.
LENGTH_CODES: dict[str, str] = {
    "1": "2991 mm (10 ft)",
    "2": "6068 mm (20 ft)",
    "3": "9125 mm (30 ft)",
    "4": "12192 mm (40 ft)",
    "A": "7150 mm",
    "B": "7315 mm (24 ft)",
    "C": "7430 mm (24 ft 6 in)",
    "D": "7450 mm",
    "E": "7820 mm",
    "F": "8100 mm",
    "G": "12500 mm (41 ft)",
    "H": "13106 mm (43 ft)",
    "K": "13600 mm",
    "L": "13716 mm (45 ft)",
    "M": "14630 mm (48 ft)",
    "N": "14935 mm (49 ft)",
    "P": "16154 mm (53 ft)",
}

# ISO 6346, second character: height, together with the width class.
HEIGHT_WIDTH_CODES: dict[str, str] = {
    "0": "2438 mm (8 ft) high, 2438 mm wide",
    "2": "2591 mm (8 ft 6 in) high, 2438 mm wide",
    "4": "2743 mm (9 ft) high, 2438 mm wide",
    "5": "2895 mm (9 ft 6 in) high, 2438 mm wide",
    "6": "over 2895 mm high, 2438 mm wide",
    "8": "1295 mm (4 ft 3 in) high, 2438 mm wide",
    "9": "at most 1219 mm high, 2438 mm wide",
    "C": "2591 mm high, 2438 to 2500 mm wide",
    "D": "2743 mm high, 2438 to 2500 mm wide",
    "E": "2895 mm high, 2438 to 2500 mm wide",
    "F": "over 2895 mm high, 2438 to 2500 mm wide",
    "L": "2591 mm high, over 2500 mm wide",
    "M": "2743 mm high, over 2500 mm wide",
    "N": "2895 mm high, over 2500 mm wide",
    "P": "over 2895 mm high, over 2500 mm wide",
}

# ISO 6346, third character: the container type group; the fourth character
# is a digit giving the detailed type within the group (e.g. G1, R1, T6).
TYPE_GROUPS: dict[str, str] = {
    "G": "general purpose",
    "V": "general purpose, ventilated",
    "B": "dry bulk",
    "S": "named cargo (livestock, automobiles, live fish)",
    "R": "thermal, refrigerated",
    "H": "thermal, insulated or heated",
    "U": "open top",
    "P": "platform (flat rack)",
    "T": "tank",
    "A": "air/surface",
}

# Labels of the customs parameter tables accepted by check_param.
PARAM_LABELS: dict[str, Text] = {
    "unit": Text("unit (计量单位)"),
    "trade_mode": Text("trade mode (监管方式)"),
    "transport_mode": Text("transport mode (运输方式)"),
    "transaction_mode": Text("transaction mode (成交方式)"),
    "package_type": Text("package type (包装种类)"),
    "levy_kind": Text("levy kind (征免性质)"),
    "container_kind": Text("container kind (集装箱规格)"),
    "country": Text("country (国别地区)"),
    "currency": Text("currency (币制)"),
}

_CONTAINER = re.compile(r"[A-Z]{4}[0-9]{7}")
_USCC = re.compile(r"[0-9]{8}[0-9A-HJ-NPQRTUWXY]{10}")
_ALPHA3 = re.compile(r"[A-Z]{3}")
_LOCODE = re.compile(r"[A-Z]{2}[A-Z2-9]{3}")


def check_hs_code(code: str) -> str | None:
    """A China commodity number: 10 digits (8-digit tariff code + 2 supplementary) or 8.

    The 8-digit code must be in China's 2023 customs tariff; when it is not,
    the message says whether its 6-digit subheading exists in HS 2022.
    """
    if not code.isascii() or not code.isdigit():
        return Text("HS code must contain digits only")
    if len(code) not in (8, 10):
        return Text("HS code must have 10 digits (8-digit tariff code and 2-digit supplement) or 8 digits")
    data = get_refdata()
    if code[:8] in data.cn8:
        return None
    if code[:6] not in data.hs6:
        return Text("HS subheading {subheading} does not exist in HS 2022", subheading=code[:6])
    return Text("tariff code {tariff} does not exist in China's 2023 customs tariff", tariff=code[:8])


def check_container_number(number: str) -> str | None:
    """An ISO 6346 container number in compact capital form, e.g. ``CSQU3054383``."""
    if not _CONTAINER.fullmatch(number):
        if _CONTAINER.fullmatch(re.sub(r"[\s-]", "", number).upper()):
            return Text("container number must be written in capitals without spaces or hyphens, e.g. CSQU3054383")
        return Text("container number must be 4 letters and 7 digits, e.g. CSQU3054383")
    if number[3] not in "UJZ":
        return Text("the fourth letter of a container number (equipment category) must be U, J or Z")
    # the format is checked above: only the check digit is left (stdnum's ``validate`` would check the format
    # again, and put the number in compact form twice)
    if iso6346.calc_check_digit(number[:10]) != number[10]:
        return Text("ISO 6346 check digit is wrong")
    return None


def check_size_type(code: str) -> str | None:
    """An ISO 6346 size-and-type code of 4 characters, e.g. ``22G1``, ``45R1``, ``L5G1``."""
    if len(code) != 4:
        return Text("size-type code must have 4 characters, e.g. 22G1 or 45G1")
    if code != code.upper():
        return Text("size-type code must be written in capitals, e.g. 22G1")
    length, height, group, detail = code
    if length not in LENGTH_CODES:
        return Text("unknown ISO 6346 length code '{code}' in size-type code", code=length)
    if height not in HEIGHT_WIDTH_CODES:
        return Text("unknown ISO 6346 height/width code '{code}' in size-type code", code=height)
    if group not in TYPE_GROUPS:
        return Text("unknown ISO 6346 container type group '{code}' in size-type code", code=group)
    if not detail.isdigit() or not detail.isascii():
        return Text("container type '{code}' must be a type group letter and a digit, e.g. G1", code=group + detail)
    return None


def check_uscc(code: str) -> str | None:
    """A Unified Social Credit Code (统一社会信用代码) of 18 characters with its check character."""
    if len(code) != 18:
        return Text("unified social credit code must have 18 characters")
    if not _USCC.fullmatch(code):
        return Text("unified social credit code must be 8 digits then 10 digits or capital letters "
                    "(no I, O, S, V or Z)")
    if not uscc.is_valid(code):
        return Text("unified social credit code check character is wrong")
    return None


def check_country(alpha3: str) -> str | None:
    """An ISO 3166 alpha-3 country code that is also in the customs country table."""
    if not _ALPHA3.fullmatch(alpha3):
        return Text("country code must be 3 capital letters (ISO 3166 alpha-3), e.g. CHN")
    if pycountry.countries.get(alpha_3=alpha3) is None:
        return Text("'{code}' is not an ISO 3166 alpha-3 country code", code=alpha3)
    if alpha3 not in get_refdata().params["country"]:
        return Text("country '{code}' is not in the customs country table (国别地区)", code=alpha3)
    return None


def check_currency(code: str) -> str | None:
    """An ISO 4217 currency code that customs accepts (the 币制 table)."""
    if not _ALPHA3.fullmatch(code):
        return Text("currency code must be 3 capital letters (ISO 4217), e.g. CNY")
    if pycountry.currencies.get(alpha_3=code) is None:
        return Text("'{code}' is not an ISO 4217 currency code", code=code)
    if code not in get_refdata().params["currency"]:
        return Text("currency '{code}' is an ISO 4217 code but is not accepted by customs (币制)", code=code)
    return None


def _check_locode(locode: str, what: Text) -> str | None:
    """Shared rule of check_location and check_port; ``what`` names the field."""
    if not _LOCODE.fullmatch(locode):
        return Text("{what} must be a 5-character UN/LOCODE in capitals, e.g. CNSHG", what=what)
    if not locode.startswith("CN"):
        return Text("{what} '{code}' is not in China; only Chinese UN/LOCODEs are known", what=what, code=locode)
    if locode not in get_refdata().locations:
        return Text("unknown {what} '{code}' (not in UN/LOCODE)", what=what, code=locode)
    return None


def check_location(locode: str) -> str | None:
    """A UN/LOCODE of a location in China, e.g. ``CNSHG`` (any function)."""
    return _check_locode(locode, Text("location code"))


def check_port(locode: str) -> str | None:
    """A port code: any UN/LOCODE of a location in China.

    The seaport function is deliberately not required: carriers and
    declarants still write airport codes such as ``CNSHA`` or ``CNTAO`` for
    the seaports of those cities (whose own codes are ``CNSHG``, ``CNQDG``).
    """
    return _check_locode(locode, Text("port code"))


def check_param(table: str, code: str) -> str | None:
    """A code of one customs parameter table (see ``PARAM_LABELS`` for the tables).

    Raises KeyError for a table that does not exist: that is a programming
    error, not a user error.
    """
    label = PARAM_LABELS[table]
    if code not in get_refdata().params[table]:
        return Text("unknown {label} code '{code}'", label=label, code=code)
    return None


def check_customs_office(code: str) -> str | None:
    """A customs office code (关区代码): exactly 4 digits, e.g. ``2200``."""
    if not re.fullmatch(r"[0-9]{4}", code):
        return Text("customs office code (关区代码) must be exactly 4 digits, e.g. 2200")
    return None


def check_ciq_office(code: str) -> str | None:
    """An inspection and quarantine office code (检验检疫机关代码): exactly 6 digits."""
    if not re.fullmatch(r"[0-9]{6}", code):
        return Text("inspection office code (检验检疫机关代码) must be exactly 6 digits, e.g. 310000")
    return None
