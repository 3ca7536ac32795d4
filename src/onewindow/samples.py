"""Realistic one-time entries for the demo, the tests and the benchmarks.

Every code is real: HS codes from China's tariff, container numbers with
correct ISO 6346 check digits, Unified Social Credit Codes with correct check
characters, UN/LOCODE ports and customs parameter codes.
"""

from __future__ import annotations

import random
import string
from typing import Any

from stdnum import iso6346
from stdnum.cn import uscc

# (HS code, name, unit, unit price USD, origin): goods lines that need CIQ and ones that do not.
INSPECTED_GOODS = [
    ("0303899090", "冻鱼 Frozen fish", "035", 2.5, "JPN"),
    ("0306179000", "冻对虾 Frozen shrimps", "035", 7.8, "VNM"),
    ("0805100000", "鲜橙 Fresh oranges", "035", 1.2, "USA"),
    ("4403110000", "原木 Coniferous logs, treated", "035", 0.4, "RUS"),
    ("0201300000", "鲜牛肉 Fresh boneless beef", "035", 9.5, "AUS"),
]
PLAIN_GOODS = [
    ("8471309000", "便携式计算机 Laptop computers", "001", 420.0, "CHN"),
    ("8708999990", "汽车零件 Motor vehicle parts", "035", 6.0, "DEU"),
    ("7318159001", "螺栓 Steel bolts", "035", 1.6, "KOR"),
    ("3926909090", "塑料制品 Plastic articles", "035", 3.1, "JPN"),
]
OWNER_CODES = ["CSQU", "TCNU", "MSKU", "COSU", "OOLU", "TGHU", "CBHU", "TEMU"]


def container_number(rng: random.Random) -> str:
    """A random container number with a correct ISO 6346 check digit."""
    stem = rng.choice(OWNER_CODES) + "".join(rng.choices(string.digits, k=6))
    return stem + iso6346.calc_check_digit(stem)


def make_uscc(rng: random.Random, region: str = "210200") -> str:
    """A random Unified Social Credit Code with a correct check character."""
    alphabet = "0123456789ABCDEFGHJKLMNPQRTUWXY"
    stem = "91" + region + "".join(rng.choices(alphabet, k=9))
    return stem + uscc.calc_check_digit(stem)


def _item(good: tuple[str, str, str, float, str], quantity: float) -> dict[str, Any]:
    hs_code, name, unit, price, origin = good
    return {"hs_code": hs_code, "name": name, "quantity": quantity, "unit": unit, "unit_price": price,
            "total_price": round(quantity * price, 2), "origin_country": origin}


def sample_entry(*, containers: int = 2, items: int = 5, inspected: bool = True, seed: int | None = None,
                 consignee_uscc: str = "91210200MA0QK1P3AF", customs_office: str = "0916",
                 ciq_office: str = "210600", port: str = "CNDAG") -> dict[str, Any]:
    """An import entry with ``containers`` containers and ``items`` goods lines.

    With ``inspected`` the first line is a good in the inspection catalogue
    (so a CIQ declaration is made); otherwise every line is customs-only.
    """
    rng = random.Random(seed)
    goods = [rng.choice(PLAIN_GOODS) for _ in range(items)]
    if inspected:
        goods[0] = rng.choice(INSPECTED_GOODS)
    lines = [_item(g, 100.0 * rng.randint(1, 50) if g[2] == "035" else float(rng.randint(10, 200))) for g in goods]
    kg = sum(line["quantity"] for line in lines if line["unit"] == "035")
    net = kg + 500.0
    return {
        "direction": "import",
        "consignee": {"uscc": consignee_uscc, "name": "大连远洋食品贸易有限公司"},
        "overseas_party": {"name": "Hokkaido Marine Products Co., Ltd.", "country": "JPN"},
        "trade_mode": "0110", "transport_mode": "2", "transaction_mode": "1",
        "customs_office": customs_office, "ciq_office": ciq_office, "port": port,
        "conveyance": {"name": "COSCO AFRICA", "voyage": f"{rng.randint(100, 999)}E"},
        "bill_of_lading": f"COSU{rng.randint(10**9, 10**10 - 1)}",
        "trade_country": "JPN", "departure_country": "JPN", "currency": "USD",
        "packages": 40 * max(1, containers), "package_type": "22",
        "gross_weight_kg": net + 800.0, "net_weight_kg": net,
        "containers": [{"number": container_number(rng), "size_type": "45R1" if inspected else "45G1"}
                       for _ in range(containers)],
        "items": lines,
        "documents": [{"kind": "invoice", "number": f"INV-{rng.randint(1000, 9999)}"},
                      {"kind": "packing_list", "number": f"PL-{rng.randint(1000, 9999)}"}],
    }
