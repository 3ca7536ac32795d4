"""Validating a one-time entry field by field, answering every bad field at once.

:func:`parse_entry` runs the schema (types and code tables) and the rules that
span fields (weights, prices, parties, duplicate containers) over the same raw
document, so one 422 names every problem it can find.
"""

from __future__ import annotations

import math
from typing import Any

from pydantic import ValidationError

from onewindow.errors import Text, ValidationFailed, field_error, pydantic_details
from onewindow.filings.schemas import FilingEntry

KILOGRAM = "035"  # 计量单位 千克
DIRECTIONS = {"import": Text("import"), "export": Text("export")}
WEIGHT_TOLERANCE = 1.001
PRICE_TOLERANCE = 0.01


def _number(value: Any) -> float | None:
    """A JSON number as a finite float, or None for anything else, a number too large included (then its
    own field error says why)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        number = float(value)
    except OverflowError:
        return None
    return number if -math.inf < number < math.inf else None  # not NaN nor infinite


def _items(raw: dict[str, Any]) -> list[tuple[int, dict[str, Any]]]:
    items = raw.get("items")
    if not isinstance(items, list):
        return []
    return [(i, item) for i, item in enumerate(items) if isinstance(item, dict)]


def check_parties(raw: dict[str, Any]) -> list[dict[str, Any]]:
    """Import needs the consignee (收货人) and the departure country; export the consignor and destination."""
    needed = {"import": ("consignee", "departure_country"), "export": ("consignor", "destination_country")}
    direction = raw.get("direction")
    fields = needed.get(direction, ()) if isinstance(direction, str) else ()
    return [field_error([f], Text("is required for {direction}", direction=DIRECTIONS[direction]))
            for f in fields if raw.get(f) in (None, "")]


def check_weights(raw: dict[str, Any]) -> list[dict[str, Any]]:
    """Net weight within gross weight; goods lines in kilograms within the net weight."""
    errors = []
    gross, net = _number(raw.get("gross_weight_kg")), _number(raw.get("net_weight_kg"))
    if gross is not None and net is not None and net > gross:
        errors.append(field_error(["net_weight_kg"], Text("net weight {net} kg exceeds gross weight {gross} kg",
                                                          net=f"{net:g}", gross=f"{gross:g}")))
    kg = [_number(item.get("quantity")) for _, item in _items(raw) if item.get("unit") == KILOGRAM]
    if net is not None and kg and None not in kg and sum(kg) > net * WEIGHT_TOLERANCE:
        errors.append(field_error(["items"], Text("goods lines weigh {total} kg in all, more than the net weight "
                                                  "{net} kg", total=f"{sum(kg):g}", net=f"{net:g}")))
    return errors


def check_prices(raw: dict[str, Any]) -> list[dict[str, Any]]:
    """Each line's total price is its quantity times its unit price (to the cent, or 0.01%)."""
    errors = []
    for i, item in _items(raw):
        qty, price, total = (_number(item.get("quantity")), _number(item.get("unit_price")),
                             _number(item.get("total_price")))
        if None in (qty, price, total):
            continue
        expected = qty * price
        if abs(expected - total) > max(PRICE_TOLERANCE, abs(total) * 1e-4):
            errors.append(field_error(["items", i, "total_price"], Text(
                "quantity × unit price is {expected}, not {total}", expected=f"{expected:.2f}", total=f"{total:g}")))
    return errors


def check_containers(raw: dict[str, Any]) -> list[dict[str, Any]]:
    """A container is listed once."""
    seen: set[str] = set()
    errors = []
    containers = raw.get("containers")
    for i, c in enumerate(containers if isinstance(containers, list) else []):
        number = c.get("number") if isinstance(c, dict) else None
        if isinstance(number, str):
            if number.strip() in seen:
                errors.append(field_error(["containers", i, "number"],
                                          Text("container {number} is listed twice", number=number)))
            seen.add(number.strip())
    return errors


CROSS_CHECKS = (check_parties, check_weights, check_prices, check_containers)


def parse_entry(raw: Any) -> tuple[FilingEntry | None, list[dict[str, Any]]]:
    """The entry and every error found in ``raw``; the entry is None when the schema fails."""
    if not isinstance(raw, dict):
        return None, [field_error([], Text("the entry must be a JSON object"))]
    errors: list[dict[str, Any]] = []
    entry = None
    try:
        entry = FilingEntry.model_validate(raw)
    except ValidationError as exc:
        errors.extend(pydantic_details(exc.errors(include_url=False)))
    bad = {tuple(e["loc"]) for e in errors}
    for check in CROSS_CHECKS:
        errors.extend(e for e in check(raw) if tuple(e["loc"]) not in bad)
    return (entry if not errors else None), errors


def require_valid(raw: Any, extra: list[dict[str, Any]] = ()) -> FilingEntry:
    """The entry, or :class:`ValidationFailed` naming every bad field (with ``extra`` errors)."""
    entry, errors = parse_entry(raw)
    errors = [*errors, *extra]
    if errors or entry is None:
        raise ValidationFailed(errors)
    return entry
