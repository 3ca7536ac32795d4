"""The limits of the free texts agencies and terminals type, kept by the services the API, the pages and the
CLI call alike: a reason, a location, findings... longer than the API allows, or holding a NUL character, is
refused with a 422 naming the field, and nothing is stored (both databases)."""

from __future__ import annotations

import json
import uuid

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from onewindow.cli import app as cli_app
from onewindow.config import get_settings
from onewindow.errors import ValidationFailed
from onewindow.filings import declarations
from onewindow.filings.schemas import REASON_MOST, AmendmentRequest, RejectRequest
from onewindow.inspections import attendance
from onewindow.inspections.api import TaskCompletion
from onewindow.inspections.service import DECISION_REASON_MOST, DecisionRequest
from onewindow.inspections.terminal import CONVEYANCE_MOST, ArrivalConveyance
from onewindow.models import (
    ContainerVisit, Declaration, DeclarationVersion, Inspection, InspectionDecision, InspectionParticipant, Release,
    RelocationTask,
)
from onewindow.releases import service as releases
from onewindow.releases.api import Hold
from onewindow.samples import sample_entry
from tests.flows import API, ENT, OFFICES, TERMINAL, accepted_filing, error, file_entry, ok
from tests.releases.test_releases import inspected_by_customs



def too_long(loc: list, most: int) -> list[dict]:
    """The one detail the API's schemas give for a text of more than ``most`` characters at ``loc``."""
    return [{"loc": loc, "msg": f"String should have at most {most} characters", "type": "string_too_long"}]


def refused(run, fn, org: str) -> list[dict]:
    """The details of the :class:`ValidationFailed` that ``fn(ctx)``, run as ``org``, raises."""
    with pytest.raises(ValidationFailed) as failed:
        run(fn, as_org=org)
    return [{k: str(v) if k == "msg" else v for k, v in d.items()} for d in failed.value.details]


def column(run, entity, ident: str | uuid.UUID):
    """The stored row of ``entity`` with id ``ident``."""
    return run(lambda ctx: ctx.session.get(entity, uuid.UUID(str(ident))))


# --- one constant per limit: the API's schemas say what the services keep, and the columns hold it ----------------


def _most(model, field: str) -> int:
    return next(m.max_length for m in model.model_fields[field].metadata if hasattr(m, "max_length"))


def test_the_api_schemas_and_the_services_share_each_limit_and_the_columns_hold_it():
    assert _most(RejectRequest, "reason") == _most(AmendmentRequest, "reason") == REASON_MOST
    assert _most(Hold, "reason") == releases.HOLD_REASON_MOST
    assert _most(TaskCompletion, "location") == attendance.LOCATION_MOST
    assert _most(DecisionRequest, "reason") == DECISION_REASON_MOST
    assert {f: _most(ArrivalConveyance, f) for f in CONVEYANCE_MOST} == CONVEYANCE_MOST
    holds = {Declaration.reject_reason: REASON_MOST, DeclarationVersion.reason: REASON_MOST,
             Release.revoke_reason: releases.HOLD_REASON_MOST, RelocationTask.location: attendance.LOCATION_MOST,
             Inspection.location: attendance.LOCATION_MOST, InspectionDecision.reason: DECISION_REASON_MOST,
             InspectionParticipant.findings: attendance.FINDINGS_MOST,
             InspectionParticipant.disposal: attendance.DISPOSAL_MOST,
             ContainerVisit.conveyance: CONVEYANCE_MOST["name"], ContainerVisit.voyage: CONVEYANCE_MOST["voyage"]}
    assert {str(c): c.type.length for c in holds} == {str(c): most for c, most in holds.items()}


# --- the services refuse what the API refuses, with the same detail -------------------------------------------------


def test_a_rejection_reason_longer_than_the_api_allows_is_refused_by_the_service(client, world, run):
    _, ids, _ = accepted_filing(client, world, seed=301, accept=())
    api = error(client.post(f"{API}/declarations/{ids['customs']}/reject", json={"reason": "x" * 3000},
                            headers=world.headers("0916")), 422)
    details = refused(run, lambda ctx: declarations.reject(ctx, ids["customs"], "x" * 3000), "0916")
    assert details == api["details"] == too_long(["reason"], REASON_MOST)
    assert column(run, Declaration, ids["customs"]).status == "submitted"
    # exactly the limit, surrounding spaces removed, is a reason
    rejected = run(lambda ctx: declarations.reject(ctx, ids["customs"], f"  {'y' * REASON_MOST}  ").reject_reason,
                   as_org="0916")
    assert rejected == "y" * REASON_MOST


def test_an_amendment_reason_longer_than_the_api_allows_is_refused_with_the_other_bad_changes(client, world, run):
    _, ids, _ = accepted_filing(client, world, seed=302)
    body = {"changes": {"remarks": "更正"}, "reason": "x" * 5000}
    api = error(client.post(f"{API}/declarations/{ids['customs']}/amendments", json=body,
                            headers=world.headers(ENT)), 422)
    assert api["details"] == too_long(["reason"], REASON_MOST)
    details = refused(run, lambda ctx: declarations.amend(ctx, ids["customs"], {"remarks": "更正"}, "x" * 5000), ENT)
    assert details == too_long(["reason"], REASON_MOST)
    both = refused(run, lambda ctx: declarations.amend(ctx, ids["customs"], {"remarks": "r" * 1001}, "x" * 5000),
                   ENT)
    assert [d["loc"] for d in both] == [["reason"], ["changes", "remarks"]]
    assert column(run, Declaration, ids["customs"]).version == 1


def test_a_hold_reason_longer_than_the_api_allows_is_refused_by_the_service(client, world, run):
    _, ids, _ = accepted_filing(client, world, seed=303)
    ok(client.post(f"{API}/declarations/{ids['customs']}/decision", json={"inspect": False},
                   headers=world.headers("0916")), 201)
    ok(client.post(f"{API}/declarations/{ids['customs']}/release", headers=world.headers("0916")))
    api = error(client.post(f"{API}/declarations/{ids['customs']}/revoke-release", json={"reason": "x" * 5000},
                            headers=world.headers("0916")), 422)
    details = refused(run, lambda ctx: releases.revoke(ctx, ids["customs"], "x" * 5000), "0916")
    assert details == api["details"] == too_long(["reason"], releases.HOLD_REASON_MOST)
    assert column(run, Declaration, ids["customs"]).status == "released"
    assert run(lambda ctx: ctx.session.scalars(select(Release.revoke_reason)).all()) == [None]


def _open_task(client, world, seed: int) -> dict:
    _, ids, numbers = accepted_filing(client, world, seed=seed, containers=1)
    for agency, office in OFFICES.items():
        ok(client.post(f"{API}/declarations/{ids[agency]}/decision",
                       json={"inspect": True, "containers": numbers, "kind": "physical"},
                       headers=world.headers(office)), 201)
    (task,) = ok(client.get(f"{API}/terminal/tasks?status=open", headers=world.headers(TERMINAL)))
    return task


def test_a_location_longer_than_the_api_allows_is_refused_by_the_service(client, world, run):
    task = _open_task(client, world, 304)
    api = error(client.post(f"{API}/terminal/tasks/{task['id']}/complete", json={"location": "B" * 3000},
                            headers=world.headers(TERMINAL)), 422)
    details = refused(run, lambda ctx: attendance.complete_task(ctx, task["id"], "B" * 3000), TERMINAL)
    assert details == api["details"] == too_long(["location"], attendance.LOCATION_MOST)
    stored = column(run, RelocationTask, task["id"])
    assert (stored.status, stored.location) == ("open", None)
    assert column(run, Inspection, stored.inspection_id).status == "awaiting_relocation"


def test_the_cli_refuses_a_rejection_reason_longer_than_the_api_allows(client, world, run, database_url,
                                                                      monkeypatch):
    _, ids, _ = accepted_filing(client, world, seed=305, accept=())
    monkeypatch.setenv("ONEWINDOW_DATABASE_URL", database_url)
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(cli_app, ["declaration", "reject", "--org", "0916", ids["customs"],
                                              "--reason", "x" * 3000])
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 1, (result.stdout, result.stderr)
    assert json.loads(result.stderr)["error"]["details"] == too_long(["reason"], REASON_MOST)
    assert column(run, Declaration, ids["customs"]).status == "submitted"


# --- a NUL character: refused on both databases (PostgreSQL text cannot hold one) ------------------------------------

NUL = "查验\u0000区"


def _nul_refused(answer, loc: list) -> None:
    details = error(answer, 422)["details"]
    assert details == [{"loc": loc, "msg": "must not contain the NUL character (U+0000)"}]


def test_a_nul_in_a_rejection_or_an_amendment_reason_is_a_422_naming_it(client, world, run):
    _, ids, _ = accepted_filing(client, world, seed=306, accept=("ciq",))
    _nul_refused(client.post(f"{API}/declarations/{ids['customs']}/reject", json={"reason": NUL},
                             headers=world.headers("0916")), ["reason"])
    _nul_refused(client.post(f"{API}/declarations/{ids['ciq']}/amendments",
                             json={"changes": {"remarks": "更正"}, "reason": NUL}, headers=world.headers(ENT)),
                 ["reason"])
    assert [(d.status, d.version) for d in (column(run, Declaration, ids[a]) for a in ("customs", "ciq"))] == [
        ("submitted", 1), ("accepted", 1)]


def test_a_nul_in_a_decision_hold_location_or_result_is_a_422_naming_it(client, world, run, clock):
    ids, numbers, single = inspected_by_customs(client, world, clock, 307)
    ok(client.post(f"{API}/inspections/{single}/check-in", headers=world.headers("0916")))
    for body, loc in (({"outcome": "conforming", "findings": NUL}, ["findings"]),
                      ({"outcome": "nonconforming", "disposal": NUL}, ["disposal"])):
        _nul_refused(client.post(f"{API}/inspections/{single}/results", json=body, headers=world.headers("0916")),
                     loc)
    assert column(run, Inspection, single).status == "in_progress"
    ok(client.post(f"{API}/inspections/{single}/results", json={"outcome": "conforming"},
                   headers=world.headers("0916")))
    ok(client.post(f"{API}/declarations/{ids['customs']}/release", headers=world.headers("0916")))
    _nul_refused(client.post(f"{API}/declarations/{ids['customs']}/revoke-release", json={"reason": NUL},
                             headers=world.headers("0916")), ["reason"])
    assert column(run, Declaration, ids["customs"]).status == "released"
    task = _open_task(client, world, 308)
    _nul_refused(client.post(f"{API}/terminal/tasks/{task['id']}/complete", json={"location": NUL},
                             headers=world.headers(TERMINAL)), ["location"])
    assert column(run, RelocationTask, task["id"]).status == "open"


def test_a_nul_in_a_decision_reason_or_an_arrivals_conveyance_is_a_422_naming_it(client, world, run):
    _, ids, numbers = accepted_filing(client, world, seed=309, containers=1)
    _nul_refused(client.post(f"{API}/declarations/{ids['customs']}/decision",
                             json={"inspect": True, "containers": numbers, "kind": "physical", "reason": NUL},
                             headers=world.headers("0916")), ["reason"])
    assert run(lambda ctx: ctx.session.scalars(select(InspectionDecision)).all()) == []
    entry = sample_entry(seed=310, containers=1)
    for field in CONVEYANCE_MOST:
        conveyance = {"name": "COSCO AFRICA", "voyage": "123E", field: NUL}
        _nul_refused(client.post(f"{API}/terminal/arrivals",
                                 json={"containers": [c["number"] for c in entry["containers"]],
                                       "conveyance": conveyance}, headers=world.headers(TERMINAL)),
                     ["conveyance", field])
    number = entry["containers"][0]["number"]
    assert run(lambda ctx: ctx.session.scalars(select(ContainerVisit).where(ContainerVisit.number == number)
                                               ).all()) == []


def test_a_nul_in_the_entrys_texts_is_kept_as_typed_on_both_databases(client, world):
    """The entry's texts are stored in the filing's JSON document, which holds a NUL character on PostgreSQL as
    on SQLite: the filing is made, filed and read back as it was typed."""
    entry = sample_entry(seed=311, containers=1)
    entry["items"][0]["name"] = "冻鱼\u0000Frozen fish"
    entry["remarks"] = "冷藏\u0000"
    filing_id, ids, _ = file_entry(client, world, entry)
    seen = ok(client.get(f"{API}/filings/{filing_id}", headers=world.headers(ENT)))
    assert (seen["data"]["items"][0]["name"], seen["data"]["remarks"]) == ("冻鱼\u0000Frozen fish", "冷藏\u0000")
    assert ok(client.get(f"{API}/declarations/{ids['customs']}", headers=world.headers("0916")))["status"] == (
        "accepted")
