"""The decision path's prepared reads give what SQLAlchemy's own statements and the ORM's queries give."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import select, update

from onewindow.errors import NotFound
from onewindow.filings.repository import get_declaration
from onewindow.inspections import service, visits
from onewindow.inspections.stored import read
from onewindow.rows import columns, objects
from onewindow.sql import PreparedIn
from onewindow.models import ContainerVisit, Declaration, InspectionDecision
from tests.flows import API, ENT, OTHER, accepted_filing, ok

ABSENT = "MSKU9070323"


def decide(client, world, declaration_id, office, containers, kind):
    body = {"inspect": True, "containers": containers, "kind": kind}
    return ok(client.post(f"{API}/declarations/{declaration_id}/decision", json=body,
                          headers=world.headers(office)), 201)


@pytest.fixture
def port(client, world):
    """One consignment matched into a joint inspection, another with customs' decision open; their numbers."""
    _, matched, first = accepted_filing(client, world, seed=41)
    decide(client, world, matched["customs"], "0916", first[:2], "physical")
    decide(client, world, matched["ciq"], "210600", first[1:], "sampling")
    _, waiting, second = accepted_filing(client, world, seed=42)
    decide(client, world, waiting["customs"], "0916", second[:1], "physical")
    return first + second


PREPARED_IN = {"open visits": visits._OPEN_VISITS[False], "open visits, locked": visits._OPEN_VISITS[True],
               "coverage": visits._COVERAGE, "open decisions": service._PENDING,
               "inspected containers": service._INSPECTED}


@pytest.mark.parametrize("name", sorted(PREPARED_IN))
def test_a_prepared_in_list_reads_what_the_expanding_statement_reads(run, port, name):
    statement: PreparedIn = PREPARED_IN[name]
    lists = [port[:n] for n in range(1, len(port) + 1)] + [[port[3]], [ABSENT], [port[0], ABSENT, port[0]],
                                                           [*port, ABSENT, *port]]

    def both(ctx):
        out = []
        for numbers in lists:
            prepared = read(ctx.session, statement, {"numbers": numbers})
            core = ctx.session.connection().execute(statement.statement, {"numbers": numbers}).all()
            out.append((sorted(map(tuple, prepared), key=repr), sorted(map(tuple, core), key=repr),
                        [tuple(r) for r in prepared], [tuple(r) for r in core]))
        return out

    found = run(both)
    assert any(core for *_, core in found)
    for prepared, core, in_order, core_in_order in found:
        assert prepared == core
        if name.startswith("open visits"):  # ordered by number
            assert in_order == core_in_order


def test_an_empty_in_list_is_refused(run):
    with pytest.raises(ValueError, match="empty"):
        run(lambda ctx: read(ctx.session, service._INSPECTED, {"numbers": []}))


def test_rows_become_the_objects_the_orm_query_returns(run, port):
    def compare(ctx):
        held = ctx.session.scalars(select(ContainerVisit).where(ContainerVisit.number == port[0])).one()
        ctx.session.expire(held)
        rows = read(ctx.session, visits._OPEN_VISITS[False], {"numbers": port[:3]})
        made = objects(ctx.session, ContainerVisit, rows)
        assert made[0] is held  # the session's own object, its expired columns loaded from the row
        assert all(c.key in held.__dict__ for c in columns(ContainerVisit))
        assert all(v in ctx.session for v in made) and not ctx.session.dirty and not ctx.session.new
        return [{c.key: getattr(v, c.key) for c in columns(ContainerVisit)} for v in made]

    def orm(ctx):
        found = ctx.session.scalars(select(ContainerVisit).where(ContainerVisit.number.in_(port[:3]))
                                    .order_by(ContainerVisit.number))
        return [{c.key: getattr(v, c.key) for c in columns(ContainerVisit)} for v in found]

    assert run(compare) == run(orm)


def test_refreshed_objects_take_the_stored_values_as_populate_existing_does(run, port):
    def refresh(ctx, again):
        decision = ctx.session.scalars(select(InspectionDecision).where(InspectionDecision.status == "pending")).one()
        held = decision.reason
        ctx.session.connection().execute(update(InspectionDecision).where(InspectionDecision.id == decision.id)
                                         .values(reason=f"changed elsewhere ({again})"))
        row = read(ctx.session, select(*columns(InspectionDecision)).where(InspectionDecision.id == decision.id))
        (same,) = objects(ctx.session, InspectionDecision, row, refresh=again)
        orm = ctx.session.execute(select(InspectionDecision).where(InspectionDecision.id == decision.id)
                                  .execution_options(populate_existing=again)).scalar_one()
        assert same is decision is orm and not ctx.session.dirty
        return held, same.reason

    assert run(lambda ctx: refresh(ctx, True)) == (None, "changed elsewhere (True)")
    assert run(lambda ctx: refresh(ctx, False)) == ("changed elsewhere (True)", "changed elsewhere (True)")


@pytest.mark.parametrize("for_update", [False, True])
@pytest.mark.parametrize("who", ["0916", ENT])
def test_get_declaration_reads_the_same_by_its_prepared_statement_and_by_the_orm(client, world, run, who,
                                                                                   for_update):
    _, ids, _ = accepted_filing(client, world, seed=43)
    _, other, _ = accepted_filing(client, world, seed=44)
    attributes = [c.key for c in columns(Declaration)]

    def read_it(ctx, hold_one):
        if hold_one:  # a declaration in the session: the ORM's query, which returns what the session holds
            ctx.session.get(Declaration, uuid.UUID(other["ciq"]))
        declaration = get_declaration(ctx, ids["customs"], for_update=for_update)
        assert declaration in ctx.session and not ctx.session.dirty
        values = {key: getattr(declaration, key) for key in attributes}
        return values, declaration.filing.id

    prepared = run(lambda ctx: read_it(ctx, False), as_org=who)
    orm = run(lambda ctx: read_it(ctx, True), as_org=who)
    assert prepared == orm and prepared[0]["id"] is not None


@pytest.mark.parametrize("hold_one", [False, True])
def test_get_declaration_hides_what_the_actor_may_not_see_on_either_path(client, world, run, hold_one):
    _, ids, _ = accepted_filing(client, world, seed=45)

    def read_it(ctx, declaration_id):
        if hold_one:
            ctx.session.get(Declaration, uuid.UUID(ids["customs"]))
        return get_declaration(ctx, declaration_id, for_update=True)

    for who, declaration_id in [("210600", ids["customs"]), (OTHER, ids["ciq"]), ("DCT", ids["ciq"]),
                                ("0916", "4f1e0c6e-3f0b-4e38-9a57-3c0a3b8c6d10")]:
        with pytest.raises(NotFound):
            run(lambda ctx, i=declaration_id: read_it(ctx, i), as_org=who)


def test_a_decision_matches_the_same_when_the_session_already_holds_declarations(client, world, run):
    """The general path (the ORM's query of the declaration, objects held by the session) and the prepared one
    record and match the same."""

    def match(hold):
        _, ids, numbers = accepted_filing(client, world, seed=46 + hold)
        decide(client, world, ids["customs"], "0916", numbers[:2], "physical")

        def last(ctx):
            if hold:
                held = [uuid.UUID(i) for i in ids.values()]
                ctx.session.scalars(select(Declaration).where(Declaration.id.in_(held))).all()
            decision = service.decide(ctx, ids["ciq"], {"inspect": True, "containers": numbers[1:],
                                                        "kind": "sampling"})
            return decision.status, decision.containers == sorted(numbers[1:])

        outcome = run(last, as_org="210600")
        seen = ok(client.get(f"{API}/inspections", headers=world.headers(ENT)))
        mine = sorted((tuple(i["agencies"]), i["joint"], i["status"], len(i["containers"]))
                      for i in seen if set(i["containers"]) <= set(numbers))
        statuses = {d: ok(client.get(f"{API}/declarations/{i}", headers=world.headers(o)))["status"]
                    for d, i, o in (("customs", ids["customs"], "0916"), ("ciq", ids["ciq"], "210600"))}
        return outcome, mine, statuses

    general, prepared = match(1), match(0)
    assert general == prepared
    assert prepared[0] == ("matched", True)
    assert prepared[1] == [(("ciq",), False, "awaiting_relocation", 1),
                           (("ciq", "customs"), True, "awaiting_relocation", 1),
                           (("customs",), False, "awaiting_relocation", 1)]
    assert prepared[2] == {"customs": "inspecting", "ciq": "inspecting"}
