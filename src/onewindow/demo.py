"""Demo data: the organisations of a Dalian port pilot, logins, and consignments in every stage."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import select

from onewindow.context import Context
from onewindow.filings import declarations, service
from onewindow.inspections.attendance import book, complete_task
from onewindow.inspections.service import decide
from onewindow.inspections.terminal import list_tasks, record_arrival
from onewindow.models import Organisation
from onewindow.parties.service import (
    actor_for,
    add_organisation,
    ensure_user,
    issue_token,
    set_password,
)
from onewindow.releases.service import gate_out, release
from onewindow.samples import sample_entry

DEMO_PASSWORD = "onewindow-demo"
"""The web sign-in password of every demo user (a demo only: never for real data)."""
ENTERPRISE = "91210200MA0QK1P3AF"
AGENT = "91210211MA0XY7L2XK"

ORGANISATIONS = [
    # kind, code, name, port, credit, user
    ("admin", "PORTOFFICE", "大连口岸办 Dalian Port Office", None, None, "admin"),
    ("customs", "0916", "大窑湾海关 Dayaowan Customs", None, None, "officer"),
    ("ciq", "210600", "大窑湾检验检疫 Dayaowan Inspection & Quarantine", None, None, "inspector"),
    ("border", "DLBORDER", "大连边检站 Dalian Border Inspection", None, None, "officer"),
    ("maritime", "DLMSA", "大连海事局 Dalian Maritime Safety Administration", None, None, "officer"),
    ("terminal", "DCT", "大连集装箱码头 Dalian Container Terminal", "CNDAG", None, "operator"),
    ("enterprise", ENTERPRISE, "大连远洋食品贸易有限公司 Dalian Ocean Foods Trading", None, "advanced", "declarant"),
    ("enterprise", AGENT, "大连港通报关有限公司 Dalian Gangtong Customs Brokers", None, "general", "declarant"),
]


@dataclass(frozen=True)
class Login:
    kind: str
    code: str
    user: str
    token: str

    def __str__(self) -> str:
        return f"{self.kind:<10} {self.code:<20} {self.user:<10} {self.token}"

    def web(self) -> str:
        """The web sign-in line: organisation code, user and password."""
        return f"{self.kind:<10} {self.code:<20} {self.user:<10} {DEMO_PASSWORD}"


def _as(ctx: Context, code: str) -> Context:
    return Context(session=ctx.session, clock=ctx.clock, settings=ctx.settings, actor=actor_for(ctx, code))


def _consignments(ctx: Context) -> None:
    """One consignment per stage: staged, filed, accepted, rejected, amended, customs-only,
    under joint inspection, released and gated out.

    Each consignment's declarations are those the configured inspection catalogue makes: with a
    catalogue that lists none of the demo's goods, every consignment is customs-only (and its
    inspection is the customs' alone); with one that lists every good, each has a CIQ declaration.
    """
    ent, customs, ciq = _as(ctx, ENTERPRISE), _as(ctx, "0916"), _as(ctx, "210600")
    agencies = {"customs": customs, "ciq": ciq}
    service.create_filing(ent, sample_entry(seed=1))  # staged draft
    filed = service.create_filing(ent, sample_entry(seed=2))
    service.submit_filing(ent, filed.id)
    accepted = service.create_filing(ent, sample_entry(seed=3))
    service.submit_filing(ent, accepted.id)
    for d in accepted.declarations:
        declarations.accept(agencies[d.agency], d.id)
    rejected = service.create_filing(ent, sample_entry(seed=4, inspected=False))
    service.submit_filing(ent, rejected.id)
    declarations.reject(customs, _by_agency(rejected)["customs"].id,
                        "发票与装箱单数量不符 invoice and packing list differ")
    amended = service.create_filing(ent, sample_entry(seed=5))
    service.submit_filing(ent, amended.id)
    declarations.accept(customs, _by_agency(amended)["customs"].id)
    items = [{**item, "name": item["name"] + " (corrected)"} for item in amended.data["items"]]
    declarations.amend(ent, _by_agency(amended)["customs"].id, {"items": items},
                       "商品名称更正 goods description corrected")
    machinery = service.create_filing(ent, sample_entry(seed=6, inspected=False))
    service.submit_filing(ent, machinery.id)
    for d in machinery.declarations:
        declarations.accept(agencies[d.agency], d.id)
    _inspections_and_releases(ctx, ent, agencies)


def _by_agency(filing) -> dict:
    """A filing's declarations by agency (customs always; ciq when the catalogue lists a line)."""
    return {d.agency: d for d in filing.declarations}


def _accepted(ent: Context, agencies: dict[str, Context], seed: int):
    """An arrived, filed and accepted consignment: (declarations by agency, container numbers)."""
    entry = sample_entry(seed=seed, containers=2)
    numbers = [c["number"] for c in entry["containers"]]
    record_arrival(_as(ent, "DCT"), {"containers": numbers, "conveyance": entry["conveyance"]})
    filing = service.create_filing(ent, entry)
    service.submit_filing(ent, filing.id)
    by_agency = _by_agency(filing)
    for agency, declaration in by_agency.items():
        declarations.accept(agencies[agency], declaration.id)
    return by_agency, numbers


INSPECTIONS = {
    "customs": {"kind": "physical", "reason": "风险布控 risk rule R-17"},
    "ciq": {"kind": "quarantine_treatment", "reason": "冻品检疫 frozen goods quarantine"},
}
"""What each agency's demo decision to inspect asks for."""


def _inspections_and_releases(ctx: Context, ent: Context, agencies: dict[str, Context]) -> None:
    """A joint inspection booked at the quay; a consignment released and partly gated out."""
    terminal = _as(ctx, "DCT")
    joint, numbers = _accepted(ent, agencies, seed=7)
    for agency, declaration in joint.items():
        decide(agencies[agency], declaration.id, {"inspect": True, "containers": numbers[:1], **INSPECTIONS[agency]})
    for task in list_tasks(terminal, "open"):
        complete_task(terminal, str(task.id), "查验区 B3 inspection area B3")
    [inspection] = [i for i in list_inspections_of(ctx, joint["customs"])]
    book(ent, str(inspection.id), ctx.now() + timedelta(hours=3))
    free, numbers = _accepted(ent, agencies, seed=8)
    for agency, declaration in free.items():
        decide(agencies[agency], declaration.id, {"inspect": False})
        release(agencies[agency], declaration.id)
    gate_out(terminal, numbers[0])


def list_inspections_of(ctx: Context, declaration) -> list:
    from onewindow.models import Inspection, InspectionDeclaration

    return list(ctx.session.scalars(select(Inspection).join(
        InspectionDeclaration, InspectionDeclaration.inspection_id == Inspection.id).where(
        InspectionDeclaration.declaration_id == declaration.id)))


def load_demo(ctx: Context) -> list[Login]:
    """Register the demo organisations and consignments once; issue fresh tokens every time."""
    fresh = ctx.session.scalar(select(Organisation).where(Organisation.code == "0916")) is None
    logins = []
    for kind, code, name, port, credit, user in ORGANISATIONS:
        org = (add_organisation(ctx, kind=kind, code=code, name=name, port=port, credit_level=credit) if fresh
               else ctx.session.scalar(select(Organisation).where(Organisation.code == code)))
        u = ensure_user(ctx, org, user)
        set_password(u, DEMO_PASSWORD)
        logins.append(Login(kind, code, user, issue_token(ctx, u)))
    if fresh:
        _consignments(ctx)
    return logins
