"""The simulator against real servers (``onewindow serve`` subprocesses): the same traffic with matching on and
off on SQLite, and matching on PostgreSQL; the outcomes checked against what the databases hold."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import func, select

from onewindow.db import make_engine
from onewindow.models import ContainerVisit, Declaration, Filing, Inspection, InspectionContainer, \
    InspectionParticipant, Release
from onewindow.simulator.plan import Options, plan_traffic
from onewindow.simulator.run import Platform, simulate

OPTIONS = Options(consignments=12, containers_per_filing=2, seed=3, speed=7200, customs_rate=0.7, ciq_rate=0.8,
                  no_show_rate=0.15, reject_rate=0.15, concurrency=8)


def held(database_url: str) -> dict[str, int]:
    """What the platform's database holds after the run, counted directly."""
    engine = make_engine(database_url, pool_size=1)
    try:
        with engine.connect() as conn:
            started = select(Inspection.id).where(Inspection.started_at.is_not(None))
            count = lambda query: conn.execute(query).scalar_one()  # noqa: E731
            return {
                "filings": count(select(func.count()).select_from(Filing)),
                "inspections": count(select(func.count()).where(Inspection.id.in_(started))),
                "joint": count(select(func.count()).where(Inspection.id.in_(started), Inspection.joint.is_(True))),
                "opened": count(select(func.count()).select_from(InspectionContainer)
                                .where(InspectionContainer.inspection_id.in_(started))),
                "checkins": count(select(func.count()).select_from(InspectionParticipant)
                                  .where(InspectionParticipant.checked_in_at.is_not(None))),
                "absent_not_adopted": count(select(func.count()).select_from(InspectionParticipant).where(
                    InspectionParticipant.absent.is_(True), InspectionParticipant.adopted_at.is_(None))),
                "gated_out": count(select(func.count()).select_from(ContainerVisit)
                                   .where(ContainerVisit.gated_out_at.is_not(None))),
                "open_visits": count(select(func.count()).select_from(ContainerVisit)
                                     .where(ContainerVisit.gated_out_at.is_(None))),
                "refiled": count(select(func.count()).select_from(Declaration).where(Declaration.version > 1)),
                "revoked": count(select(func.count()).select_from(Release).where(Release.revoked_at.is_not(None))),
                "unreleased": count(select(func.count()).select_from(Declaration)
                                    .where(Declaration.status != "released")),
            }
    finally:
        engine.dispose()


def play(database_url: str, joint: bool, options: Options = OPTIONS):
    with Platform(database_url, speed=options.speed, joint=joint) as platform:
        result = asyncio.run(simulate(platform.url, platform.tokens, options))
    return result, held(database_url)


@pytest.fixture(scope="module")
def sqlite_runs(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("simulate")
    return {mode: play(f"sqlite:///{tmp / f'{mode}.db'}", joint) for mode, joint in (("joint", True),
                                                                                     ("serial", False))}


def check_consistent(result, db, options: Options) -> None:
    """Every consignment through, and the figures are what the database holds."""
    plan = plan_traffic(options)
    f = result.figures
    assert result.outcome.failures == {}
    assert f.consignments == f.gated_out == db["filings"] == options.consignments
    assert f.containers == db["gated_out"] == options.consignments * options.containers_per_filing
    assert db["open_visits"] == 0 and db["unreleased"] == 0 and db["absent_not_adopted"] == 0
    assert (f.inspections, f.joint_inspections, f.containers_opened, f.checkins) == (
        db["inspections"], db["joint"], db["opened"], db["checkins"])
    assert db["refiled"] == sum(p.reject for c in plan.consignments for p in c.agencies.values())
    assert db["revoked"] == sum(p.hold for c in plan.consignments for p in c.agencies.values())
    for stat in (f.arrival_to_gate_out, f.filing_to_release):
        assert stat.count == options.consignments
        assert 0 < stat.median <= stat.p90
        assert stat.mean > 0
    # a consignment is released before it leaves, and filed after its arrival
    assert f.arrival_to_gate_out.mean > f.filing_to_release.mean


@pytest.mark.parametrize("mode", ["joint", "serial"])
def test_every_consignment_goes_through_and_the_figures_match_the_records(sqlite_runs, mode):
    result, db = sqlite_runs[mode]
    check_consistent(result, db, OPTIONS)
    assert result.joint_inspection is (mode == "joint")


def test_matching_off_opens_containers_more_often(sqlite_runs):
    (joint, _), (serial, _) = sqlite_runs["joint"], sqlite_runs["serial"]
    plan = plan_traffic(OPTIONS)
    both = [c for c in plan.consignments if len(c.agencies) == 2 and all(p.inspect for p in c.agencies.values())]
    assert both, "the options should make some consignments wanted by both agencies"
    assert joint.figures.joint_inspections >= 1
    assert serial.figures.joint_inspections == 0
    assert serial.figures.containers_opened >= joint.figures.containers_opened + OPTIONS.containers_per_filing
    assert serial.figures.inspections > joint.figures.inspections


@pytest.mark.postgres
def test_on_postgresql(fresh_postgres_url):
    options = Options(**{**OPTIONS.__dict__, "consignments": 8})
    result, db = play(fresh_postgres_url, True, options)
    check_consistent(result, db, options)
