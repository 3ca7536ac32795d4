"""The traffic to play, planned from a seed before anything is sent (pure: no I/O, no clock).

Every random choice of a consignment (its goods, containers, the agencies'
delays and decisions, no-shows, rejections, holds) is drawn here from the
consignment's own random stream, so the same options give the same traffic
on any platform, whatever order the requests are answered in. Times are
offsets in simulated seconds from the start of the run.
"""

from __future__ import annotations

import random
import string
from dataclasses import dataclass, field, replace
from functools import cache
from typing import Any

from stdnum import iso6346

from onewindow.samples import OWNER_CODES

HOUR = 3600.0
MINUTE = 60.0
AGENCIES = ("customs", "ciq")
CIQ_SHARE = 0.6
"""Share of consignments carrying goods in the inspection catalogue (so a CIQ declaration is made)."""
CONSIGNMENTS_PER_VESSEL = 8
VESSEL_INTERVAL = 3 * HOUR
HOLD_RATE = 0.03
"""Share of consignments where one agency holds its release (revoke) and releases again."""
NONCONFORMING_RATE = 0.05
ENTERPRISES = 3
VESSELS = ["COSCO AFRICA", "MSC OSCAR", "EVER GIVEN", "CSCL GLOBE", "OOCL HONG KONG", "MAERSK ESSEN"]
KINDS = {"customs": ("physical", "machine_scan"), "ciq": ("sampling", "quarantine_treatment", "physical")}


class OptionError(ValueError):
    """An option out of range; the message names the option as typed on the command line."""


@dataclass(frozen=True)
class Options:
    """What to simulate. Rates are shares between 0 and 1."""

    consignments: int = 50
    containers_per_filing: int = 2
    seed: int = 1
    speed: float = 1800.0
    customs_rate: float = 0.3
    ciq_rate: float = 0.5
    no_show_rate: float = 0.05
    reject_rate: float = 0.05
    concurrency: int = 16

    def __post_init__(self) -> None:
        problems = []
        if not 1 <= self.consignments <= 100_000:
            problems.append(f"--consignments must be between 1 and 100000, not {self.consignments}")
        if not 1 <= self.containers_per_filing <= 50:
            problems.append(f"--containers-per-filing must be between 1 and 50, not {self.containers_per_filing}")
        if not 1 <= self.speed <= 100_000:
            problems.append(f"--speed must be between 1 and 100000 simulated seconds per second, not {self.speed:g}")
        for name in ("customs_rate", "ciq_rate", "no_show_rate", "reject_rate"):
            value = getattr(self, name)
            if not 0 <= value <= 1:
                problems.append(f"--{name.replace('_', '-')} must be a share between 0 and 1, not {value:g}")
        if not 1 <= self.concurrency <= 1000:
            problems.append(f"--concurrency must be between 1 and 1000, not {self.concurrency}")
        if problems:
            raise OptionError("; ".join(problems))


@dataclass(frozen=True)
class AgencyPlan:
    """What one agency does with its declaration of a consignment (delays in simulated seconds)."""

    accept_delay: float
    reject: bool
    refile_delay: float
    reaccept_delay: float
    decide_delay: float
    inspect: bool
    kind: str
    no_show: bool
    checkin_offset: float
    result_delay: float
    nonconforming: bool
    release_delay: float
    hold: bool
    hold_delay: float
    rerelease_delay: float


@dataclass(frozen=True)
class ConsignmentPlan:
    """One consignment: its entry, who files it, when, and what every party does."""

    index: int
    vessel: int
    enterprise: int
    """Which of the run's enterprises files it (an index into the parties' enterprises)."""
    entry: dict[str, Any]
    file_delay: float
    agencies: dict[str, AgencyPlan]
    relocation_delay: float
    appointment_lead: float
    gate_out_delay: float

    @property
    def containers(self) -> list[str]:
        return [c["number"] for c in self.entry["containers"]]


@dataclass(frozen=True)
class VesselPlan:
    index: int
    name: str
    voyage: str
    arrival: float
    consignments: list[ConsignmentPlan] = field(default_factory=list)

    @property
    def containers(self) -> list[str]:
        return [n for c in self.consignments for n in c.containers]


@dataclass(frozen=True)
class Traffic:
    options: Options
    vessels: list[VesselPlan]

    @property
    def consignments(self) -> list[ConsignmentPlan]:
        return [c for v in self.vessels for c in v.consignments]


@cache
def goods() -> tuple[tuple, tuple]:
    """(goods needing inspection, goods that do not): 8-digit codes of China's tariff measured in kilograms,
    sorted, split by the platform's inspection catalogue."""
    from onewindow.refdata.catalogue import get_catalogue
    from onewindow.refdata.tables import get_refdata

    catalogue = get_catalogue()
    kg = sorted((c for c in get_refdata().cn8.values() if c.unit1_code == "09"), key=lambda c: c.code)
    inspected = tuple(c for c in kg if catalogue.needs_inspection(c.code))
    return inspected, tuple(c for c in kg if not catalogue.needs_inspection(c.code))


def plan_traffic(options: Options) -> Traffic:
    """The whole run: vessels every few hours, each with a few consignments; deterministic for ``options``."""
    rng = random.Random(f"traffic:{options.seed}")
    used: set[str] = set()
    vessels: list[VesselPlan] = []
    for i in range(options.consignments):
        if i % CONSIGNMENTS_PER_VESSEL == 0:
            v = len(vessels)
            vessels.append(VesselPlan(index=v, name=VESSELS[v % len(VESSELS)], voyage=f"{100 + v}E",
                                      arrival=v * VESSEL_INTERVAL + rng.uniform(0, HOUR)))
        vessel = vessels[-1]
        vessel.consignments.append(_consignment(options, i, vessel, used))
    return Traffic(options=options, vessels=vessels)


def _container(rng: random.Random, used: set[str]) -> str:
    while True:
        stem = rng.choice(OWNER_CODES) + "".join(rng.choices(string.digits, k=6))
        number = stem + iso6346.calc_check_digit(stem)
        if number not in used:
            used.add(number)
            return number


def _consignment(options: Options, index: int, vessel: VesselPlan, used: set[str]) -> ConsignmentPlan:
    rng = random.Random(f"consignment:{options.seed}:{index}")
    enterprise = rng.randrange(ENTERPRISES)
    inspected = rng.random() < CIQ_SHARE
    entry = _entry(rng, options, vessel, inspected, used)
    agencies = {a: _agency(rng, options, a) for a in (AGENCIES if inspected else ("customs",))}
    holder = rng.choice(sorted(agencies)) if rng.random() < HOLD_RATE else None
    if holder:
        agencies[holder] = replace(agencies[holder], hold=True)
    return ConsignmentPlan(index=index, vessel=vessel.index, enterprise=enterprise, entry=entry,
                           file_delay=rng.uniform(0.5, 4) * HOUR, agencies=agencies,
                           relocation_delay=rng.uniform(1, 3) * HOUR, appointment_lead=rng.uniform(2, 6) * HOUR,
                           gate_out_delay=rng.uniform(1, 6) * HOUR)


def _agency(rng: random.Random, options: Options, agency: str) -> AgencyPlan:
    rate = options.customs_rate if agency == "customs" else options.ciq_rate
    return AgencyPlan(
        accept_delay=rng.uniform(0.2, 1.5) * HOUR, reject=rng.random() < options.reject_rate,
        refile_delay=rng.uniform(1, 3) * HOUR, reaccept_delay=rng.uniform(0.2, 1) * HOUR,
        decide_delay=rng.uniform(0.3, 1.5) * HOUR, inspect=rng.random() < rate, kind=rng.choice(KINDS[agency]),
        no_show=rng.random() < options.no_show_rate, checkin_offset=rng.uniform(0, 10) * MINUTE,
        result_delay=rng.uniform(0.5, 1.5) * HOUR, nonconforming=rng.random() < NONCONFORMING_RATE,
        release_delay=rng.uniform(0.2, 1) * HOUR, hold=False, hold_delay=rng.uniform(0.1, 0.5) * HOUR,
        rerelease_delay=rng.uniform(1, 3) * HOUR)


def _entry(rng: random.Random, options: Options, vessel: VesselPlan, inspected: bool,
           used: set[str]) -> dict[str, Any]:
    """An import entry with real codes: tariff lines (one from the inspection catalogue when ``inspected``).

    The consignee, offices and port are those of the simulated parties, set when it is filed.
    """
    needing, plain = goods()
    lines = [rng.choice(plain) for _ in range(rng.randint(1, 4))]
    if inspected:
        lines[0] = rng.choice(needing)
    items = []
    for good in lines:
        quantity, price = float(100 * rng.randint(5, 200)), round(rng.uniform(0.5, 20), 2)
        items.append({"hs_code": good.code, "name": good.name_zh[:100], "quantity": quantity, "unit": "035",
                      "unit_price": price, "total_price": round(quantity * price, 2), "origin_country": "JPN"})
    net = sum(i["quantity"] for i in items)
    n = options.containers_per_filing
    return {
        "direction": "import",
        "consignee": {"uscc": None, "name": "大连模拟贸易有限公司"},
        "overseas_party": {"name": "Hokkaido Trading Co., Ltd.", "country": "JPN"},
        "trade_mode": "0110", "transport_mode": "2", "transaction_mode": "1",
        "customs_office": "0916", "ciq_office": "210600", "port": "CNDAG",
        "conveyance": {"name": vessel.name, "voyage": vessel.voyage},
        "bill_of_lading": f"SIM{options.seed % 1000:03d}{rng.randint(10**9, 10**10 - 1)}",
        "trade_country": "JPN", "departure_country": "JPN", "currency": "USD",
        "packages": 40 * n, "package_type": "22", "gross_weight_kg": net + 800.0 * n, "net_weight_kg": net,
        "containers": [{"number": _container(rng, used), "size_type": "45R1" if inspected else "45G1"}
                       for _ in range(n)],
        "items": items,
        "documents": [{"kind": "invoice", "number": "INV-" + "".join(rng.choices(string.digits, k=6))}],
    }
