"""The projection run by the scheduler, the credit level a consignment is cleared under, and the migration
that gives every enterprise a credit level."""

from __future__ import annotations

import time
import uuid

from alembic import command
from sqlalchemy import select, text, update

from onewindow.db import make_engine, make_session_factory
from onewindow.migrate import alembic_config, upgrade
from onewindow.models import Organisation
from onewindow.scheduler import tick
from onewindow.timing import service
from onewindow.timing.filters import parse_query

ENT = "91210200MA0QK1P3AF"
OTHER = "91210211MA0XY7L2XK"


def test_the_scheduler_keeps_the_study_up_to_date(flow, db, clock, settings):
    entry, numbers = flow.entry(21)
    flow.arrive(numbers)
    flow.at(90)
    filing_id, _ = flow.file(entry)
    factory = make_session_factory(db)
    deadline, applied = time.monotonic() + 120, 0
    while flow.record(filing_id)[0] is None:  # on PostgreSQL a round may wait for other databases' transactions
        applied += tick(factory, clock, settings)["clearance_events"]
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert applied >= 3  # the arrival, the filing's creation, its two declarations filed
    assert flow.record(filing_id)[0].arrival_to_filing_seconds == 5400
    assert tick(factory, clock, settings)["clearance_events"] == 0


def test_the_credit_level_is_the_one_the_consignment_was_cleared_under(flow, run):
    run(lambda ctx: ctx.session.execute(update(Organisation).where(Organisation.code == OTHER)
                                        .values(credit_level="certified")))
    entry, numbers = flow.entry(22, enterprise=OTHER)
    filing_id, _ = flow.file(entry, enterprise=OTHER)
    for seed in range(23, 25):
        flow.file(flow.entry(seed)[0])
    flow.project()
    assert flow.record(filing_id)[0].credit_level == "certified"
    run(lambda ctx: ctx.session.execute(update(Organisation).where(Organisation.code == OTHER)
                                        .values(credit_level="discredited")))
    flow.at(60)
    flow.arrive(numbers)  # a new event of the consignment: its record is recomputed
    flow.project()
    assert flow.record(filing_id)[0].credit_level == "certified"
    by_level = run(lambda ctx: service.figures(ctx, parse_query({"group_by": "credit_level"}), min_group=1))
    assert {g["key"]["credit_level"]: g["consignments"] for g in by_level["groups"]} == {"certified": 1,
                                                                                        "general": 2}


def test_a_staged_filing_is_not_in_the_study(flow, client, world):
    entry, _ = flow.entry(26)
    filing = flow.post("/filings", ENT, entry, 201)
    flow.project()
    assert flow.record(filing["id"]) == (None, {})


def test_the_migration_gives_enterprises_without_a_level_the_general_one(tmp_path):
    url = f"sqlite:///{tmp_path / 'credit.db'}"
    engine = make_engine(url, pool_size=1)
    try:
        cfg = alembic_config(url)
        with engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "0005")
        with engine.begin() as conn:
            for code, kind in ((ENT, "enterprise"), ("0916", "customs")):
                conn.execute(text("INSERT INTO organisations (id, kind, code, name, created_at) "
                                  "VALUES (:id, :kind, :code, 'x', '2026-03-02 00:00:00')"),
                             {"id": code.ljust(32, "0")[:32], "kind": kind, "code": code})
        upgrade(engine)
        with make_session_factory(engine)() as session:
            levels = dict(session.execute(select(Organisation.code, Organisation.credit_level)).all())
        assert levels == {ENT: "general", "0916": None}
    finally:
        engine.dispose()


def test_a_step_runs_the_same_statements_however_many_consignments_it_recomputes(flow, db, run):
    from sqlalchemy import event

    from onewindow.timing import projection

    def statements_to_project(seeds) -> int:
        filings = [flow.file(flow.entry(seed)[0])[0] for seed in seeds]
        executed: list[str] = []

        def count(_conn, _cursor, statement, *_args) -> None:
            executed.append(statement)

        event.listen(db, "before_cursor_execute", count)
        try:
            applied = run(projection.project)
        finally:
            event.remove(db, "before_cursor_execute", count)
        assert applied == 3 * len(seeds)  # each filing: created, and its two declarations filed
        assert all(flow.record(f)[0] is not None for f in filings)
        return len(executed)

    assert statements_to_project(range(31, 33)) == statements_to_project(range(33, 41))


def test_requests_commit_while_the_scheduler_works_out_a_step(flow, db, clock, settings, monkeypatch,
                                                              writes_meanwhile):
    """A step of the study is worked out without holding the write slot (SQLite: a read-only unit of work
    beside the writers, stored in a short one), so a request that writes meanwhile commits at once."""
    from onewindow.scheduler import project_in_steps
    from onewindow.timing import projection

    filing_id, _ = flow.file(flow.entry(51)[0])
    factory = make_session_factory(db)
    monkeypatch.setattr(projection, "study_rows", writes_meanwhile.around(projection.study_rows))
    deadline = time.monotonic() + 120
    while flow.record(filing_id)[0] is None:  # PostgreSQL: the events are final once older transactions end
        project_in_steps(factory, clock, settings)
        assert time.monotonic() < deadline
    assert writes_meanwhile.writes


def test_a_step_worked_out_before_the_cursor_moved_writes_nothing(flow, run):
    from onewindow.models import ClearanceRecord, SinkCursor
    from onewindow.timing import projection

    filing_id = uuid.UUID(flow.file(flow.entry(52)[0])[0])
    deadline = time.monotonic() + 120
    # PostgreSQL: events are final once the transactions older than theirs have ended, anywhere on the server
    while (step := run(lambda ctx: projection.compute_step(ctx, limit=100))).events < 3:
        assert time.monotonic() < deadline, f"{step.events} of the 3 events final after 120 s"
        time.sleep(0.05)
    assert step.events == 3 and [r["filing_id"] for r in step.rows.records] == [filing_id]
    assert run(projection.project) == 3  # another projector (the report's --project) applies them first
    moved = run(lambda ctx: (ctx.session.get(SinkCursor, projection.CURSOR).seq,
                             ctx.session.get(ClearanceRecord, filing_id).projected_at))
    assert run(lambda ctx: projection.write_step(ctx, step)) == 0
    assert run(lambda ctx: (ctx.session.get(SinkCursor, projection.CURSOR).seq,
                            ctx.session.get(ClearanceRecord, filing_id).projected_at)) == moved


def test_consignments_recomputed_together_get_the_rows_each_gets_alone(flow, run):
    """A batch reads what all its consignments need with one statement per kind and sorts it out per
    consignment: each gets the rows it gets when recomputed alone (different enterprises and credit levels,
    containers, a joint inspection, releases and gate-outs, a staged filing that is not in the study)."""
    from onewindow.timing import projection

    run(lambda ctx: ctx.session.execute(update(Organisation).where(Organisation.code == OTHER)
                                        .values(credit_level="certified")))
    inspected, (a, b) = flow.entry(61)
    flow.arrive([a, b])
    flow.at(30)
    joint, ids = flow.file(inspected)
    flow.accept(ids["customs"], "0916")
    flow.accept(ids["ciq"], "210600")
    flow.decide(ids["customs"], "0916", [a])
    flow.at(20)
    flow.decide(ids["ciq"], "210600", [a])
    released, (c, d) = flow.entry(62)
    flow.arrive([c, d])
    flow.at(45)
    out, ids = flow.file(released)
    for agency, office in (("customs", "0916"), ("ciq", "210600")):
        flow.accept(ids[agency], office)
        flow.decide(ids[agency], office)
        flow.at(15)
        flow.release(ids[agency], office)
    flow.at(90)
    flow.gate_out(c)
    flow.gate_out(d)
    other, _ = flow.file(flow.entry(63, containers=1, enterprise=OTHER)[0], enterprise=OTHER)
    staged = flow.post("/filings", ENT, flow.entry(64)[0], 201)["id"]
    filings = [uuid.UUID(f) for f in (joint, out, other, staged)]

    def rows(ctx, ids):
        found = projection.study_rows(ctx, ids)
        return ({r["filing_id"]: r for r in found.records},
                sorted((r["filing_id"], r["agency"], tuple(sorted(r.items()))) for r in found.agency_rows))

    together = run(lambda ctx: rows(ctx, filings))
    alone = [run(lambda ctx, f=f: rows(ctx, [f])) for f in filings]
    assert set(together[0]) == set(filings[:3])
    assert together[0] == {f: r for records, _ in alone for f, r in records.items()}
    assert together[1] == sorted(row for _, agencies in alone for row in agencies)
    assert [together[0][f]["inspection"] for f in filings[:3]] == ["joint", "none", "none"]
    assert [together[0][f]["credit_level"] for f in filings[:3]] == ["general", "general", "certified"]
    assert together[0][filings[1]]["complete"] and together[0][filings[0]]["arrived_at"] is not None
