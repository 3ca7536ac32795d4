"""The demo data set: organisations, logins and consignments in every stage, loaded once."""

from __future__ import annotations

from collections import Counter

import pytest

from sqlalchemy import func, select

from onewindow.demo import AGENT, ENTERPRISE, ORGANISATIONS, Login, load_demo
from onewindow.models import (
    ApiToken, Declaration, DeclarationVersion, Event, Filing, Notice, Organisation, User,
)


def _count(ctx, model) -> int:
    return ctx.session.scalar(select(func.count()).select_from(model))


def _snapshot(ctx) -> dict[str, int]:
    return {m.__name__: _count(ctx, m) for m in (Organisation, User, Filing, Declaration, Notice,
                                                  DeclarationVersion, Event)}


def _filings(ctx) -> list[Filing]:
    return list(ctx.session.scalars(select(Filing).order_by(Filing.bill_of_lading)))


def test_load_demo_registers_the_organisations_with_one_login_each(run, client):
    logins = run(load_demo)
    assert all(isinstance(login, Login) for login in logins)
    assert [(l.kind, l.code, l.user) for l in logins] == [(k, c, u) for k, c, _n, _p, _cr, u in ORGANISATIONS]
    assert len({l.token for l in logins}) == len(logins)

    orgs = run(lambda ctx: {o.code: (o.kind, o.port, o.credit_level)
                            for o in ctx.session.scalars(select(Organisation))})
    assert orgs == {
        "PORTOFFICE": ("admin", None, None), "0916": ("customs", None, None), "210600": ("ciq", None, None),
        "DLBORDER": ("border", None, None), "DLMSA": ("maritime", None, None), "DCT": ("terminal", "CNDAG", None),
        ENTERPRISE: ("enterprise", None, "advanced"), AGENT: ("enterprise", None, "general"),
    }
    for login in logins:
        me = client.get("/api/v1/me", headers={"Authorization": f"Bearer {login.token}"})
        assert me.status_code == 200, me.text
        assert me.json()["organisation"]["code"] == login.code
        assert me.json()["organisation"]["kind"] == login.kind
        assert me.json()["user"] == login.user
        assert login.token in str(login) and login.code in str(login)


def test_load_demo_makes_consignments_in_every_stage(run):
    run(load_demo)

    def look(ctx):
        filings = _filings(ctx)
        enterprise = ctx.session.scalar(select(Organisation).where(Organisation.code == ENTERPRISE))
        assert {f.enterprise_id for f in filings} == {enterprise.id}
        return [(f.status, sorted((d.agency, d.status) for d in f.declarations)) for f in filings]

    stages = run(look)
    assert len(stages) == 8
    assert sorted(declarations for _status, declarations in stages) == sorted([
        [("ciq", "draft"), ("customs", "draft")],
        [("ciq", "submitted"), ("customs", "submitted")],
        [("ciq", "accepted"), ("customs", "accepted")],
        [("customs", "rejected")],
        [("ciq", "submitted"), ("customs", "accepted")],
        [("customs", "accepted")],
        [("ciq", "inspecting"), ("customs", "inspecting")],
        [("ciq", "released"), ("customs", "released")],
    ])
    # A filing is filed once every declaration has gone to its office and none waits on the enterprise.
    for status, declarations in stages:
        if any(s == "draft" for _a, s in declarations):
            assert status == "draft"
        elif all(s in ("submitted", "accepted") for _a, s in declarations):
            assert status == "filed"
    statuses = run(lambda ctx: Counter(d.status for d in ctx.session.scalars(select(Declaration))))
    assert set(statuses) == {"draft", "submitted", "accepted", "rejected", "inspecting", "released"}


def test_demo_receipts_numbers_reasons_and_notices(run):
    run(load_demo)

    def look(ctx):
        decls = list(ctx.session.scalars(select(Declaration)))
        accepted = [d for d in decls if d.status in ("accepted", "inspecting", "released")]
        customs_numbers = sorted(d.number for d in accepted if d.agency == "customs")
        ciq_numbers = [d.number for d in accepted if d.agency == "ciq"]
        assert all(d.decided_at is not None for d in accepted)
        assert all(d.number is None for d in decls if d.status not in ("accepted", "inspecting", "released"))
        [rejected] = [d for d in decls if d.status == "rejected"]
        [amended] = [d for d in decls if d.version == 2]
        notices = list(ctx.session.scalars(select(Notice)))
        other = next(d for d in amended.filing.declarations if d.id != amended.id)
        versions = list(ctx.session.scalars(select(DeclarationVersion)
                                            .where(DeclarationVersion.declaration_id == amended.id)
                                            .order_by(DeclarationVersion.version)))
        return (customs_numbers, ciq_numbers, rejected, amended, other, notices, versions)

    customs_numbers, ciq_numbers, rejected, amended, other, notices, versions = run(look)
    # The frozen clock reads 2026-03-02 in Dalian; imports; numbers in sequence per office and year.
    assert customs_numbers == [f"09162026100000000{i}" for i in range(1, 6)]
    assert sorted(ciq_numbers) == ["121060026000001", "121060026000002", "121060026000003"]
    assert rejected.agency == "customs" and rejected.decided_at is not None
    assert rejected.reject_reason == "发票与装箱单数量不符 invoice and packing list differ"
    assert (amended.agency, amended.status) == ("customs", "accepted")
    assert all(item["name"].endswith(" (corrected)") for item in amended.data["items"])
    assert [v.version for v in versions] == [1, 2]
    assert versions[1].reason == "商品名称更正 goods description corrected"
    assert list(versions[1].changes) == ["items"]
    assert len(notices) == 1
    notice = notices[0]
    assert (notice.declaration_id, notice.source_declaration_id) == (other.id, amended.id)
    assert (other.agency, other.status) == ("ciq", "submitted")
    assert notice.source_agency == "customs" and notice.source_version == 2
    assert notice.changed_fields == ["items"]
    assert notice.reason == "商品名称更正 goods description corrected"


def test_demo_consignments_are_visible_over_the_api(run, client):
    logins = {l.code: l for l in run(load_demo)}

    def headers(code):
        return {"Authorization": f"Bearer {logins[code].token}"}

    page = client.get("/api/v1/filings?limit=50", headers=headers(ENTERPRISE)).json()
    assert page["total"] == 8
    assert client.get("/api/v1/filings", headers=headers(AGENT)).json()["total"] == 0
    queue = client.get("/api/v1/declarations?status=submitted", headers=headers("210600")).json()
    assert len(queue) == 2
    assert sorted(len(d["notices"]) for d in queue) == [0, 1]
    customs_queue = client.get("/api/v1/declarations?status=submitted", headers=headers("0916")).json()
    assert len(customs_queue) == 1


def test_a_second_load_creates_no_duplicates_and_issues_fresh_tokens(run, client):
    first = run(load_demo)
    before = run(_snapshot)
    tokens_before = run(lambda ctx: _count(ctx, ApiToken))
    second = run(load_demo)
    assert run(_snapshot) == before
    assert before["Organisation"] == len(ORGANISATIONS) and before["User"] == len(ORGANISATIONS)
    assert before["Filing"] == 8
    assert run(lambda ctx: _count(ctx, ApiToken)) == tokens_before + len(ORGANISATIONS)

    assert [(l.kind, l.code, l.user) for l in second] == [(l.kind, l.code, l.user) for l in first]
    assert not {l.token for l in first} & {l.token for l in second}
    for login in second:
        me = client.get("/api/v1/me", headers={"Authorization": f"Bearer {login.token}"})
        assert me.status_code == 200, me.text
        assert (me.json()["organisation"]["code"], me.json()["user"]) == (login.code, login.user)


@pytest.mark.parametrize(("catalogue", "ciq"), [
    ("hs_prefix,category,name_zh,name_en\n", False),
    ("hs_prefix,category,name_zh,name_en\n"
     "03,animal_quarantine,鱼,Fish\n08,plant_quarantine,水果,Fruit\n44,plant_quarantine,木,Wood\n"
     "02,animal_quarantine,肉,Meat\n84,commodity_inspection,机器,Machinery\n87,commodity_inspection,车辆,Vehicles\n"
     "73,commodity_inspection,钢铁制品,Steel articles\n39,commodity_inspection,塑料,Plastics\n", True),
], ids=["lists-none-of-the-goods", "lists-every-good"])
def test_the_demo_builds_its_stages_with_the_declarations_the_configured_catalogue_makes(
        run, settings, tmp_path, catalogue, ciq):
    path = tmp_path / "catalogue.csv"
    path.write_text(catalogue, encoding="utf-8")
    settings.inspection_catalogue = path
    run(load_demo)

    def look(ctx):
        return [(f.status, sorted((d.agency, d.status) for d in f.declarations)) for f in _filings(ctx)]

    stages = run(look)
    assert len(stages) == 8
    agencies = {agency for _status, declarations in stages for agency, _s in declarations}
    customs = Counter(s for _status, declarations in stages for agency, s in declarations if agency == "customs")
    assert customs == {"draft": 1, "submitted": 1, "accepted": 3, "rejected": 1, "inspecting": 1, "released": 1}
    if not ciq:
        assert agencies == {"customs"}
    else:  # every consignment, the customs-only ones of the default catalogue too, has a CIQ declaration
        assert all({a for a, _s in declarations} == {"customs", "ciq"} for _status, declarations in stages)
