"""New filing rows written with plain inserts: what the services return is stored, attached and unchanged."""

from __future__ import annotations

from sqlalchemy import func, select

from onewindow.events.service import record_event
from onewindow.filings import service
from onewindow.models import Declaration, DeclarationContainer, DeclarationVersion, Event, Filing, FilingVersion
from onewindow.samples import sample_entry

ENT = "91210200MA0QK1P3AF"


def test_a_created_filing_is_attached_as_stored_and_can_still_change(run, world):
    def create(ctx):
        filing = service.create_filing(ctx, sample_entry(seed=3))
        assert filing in ctx.session and all(d in ctx.session for d in filing.declarations)
        assert not ctx.session.new and not ctx.session.dirty  # nothing left for the unit of work
        assert ctx.session.scalar(select(func.count()).select_from(Declaration)
                                  .where(Declaration.filing_id == filing.id)) == len(filing.declarations) == 2
        filing.bill_of_lading = "CHANGED1"  # the object is tracked like any loaded one
        return filing.id

    filing_id = run(create, as_org=ENT)
    stored = run(lambda ctx: ctx.session.get(Filing, filing_id))
    assert stored.bill_of_lading == "CHANGED1"
    assert run(lambda ctx: ctx.session.scalar(select(FilingVersion.version).where(
        FilingVersion.filing_id == filing_id))) == 1


def test_submitting_writes_versions_containers_and_status(run, world):
    filing_id = run(lambda ctx: service.create_filing(ctx, sample_entry(seed=4, containers=2)).id, as_org=ENT)

    def submit(ctx):
        filing = service.submit_filing(ctx, str(filing_id))
        assert not ctx.session.dirty
        return filing.status, sorted(d.status for d in filing.declarations)

    assert run(submit, as_org=ENT) == ("filed", ["submitted", "submitted"])
    filing = run(lambda ctx: ctx.session.get(Filing, filing_id))
    assert filing.status == "filed"
    declarations = run(lambda ctx: list(ctx.session.scalars(select(Declaration).where(
        Declaration.filing_id == filing_id))))
    assert {d.status for d in declarations} == {"submitted"} and all(d.submitted_at for d in declarations)
    ids = [d.id for d in declarations]
    assert run(lambda ctx: ctx.session.scalar(select(func.count()).select_from(DeclarationVersion)
                                              .where(DeclarationVersion.declaration_id.in_(ids)))) == 2
    numbers = {c["number"] for c in filing.data["containers"]}
    covered = run(lambda ctx: ctx.session.execute(select(DeclarationContainer.declaration_id,
                                                         DeclarationContainer.number)).all())
    assert sorted(covered) == sorted((i, n) for i in ids for n in numbers)


def test_an_event_is_written_at_once_with_its_recipients(run, world):
    def write(ctx):
        org = ctx.as_actor().org_id
        event = record_event(ctx, "filing.updated", subject_type="test", subject_id=org, recipients=[org, org],
                             data={"n": 1})
        assert event.seq is not None and event.recipients == (org,)
        stored = ctx.session.scalar(select(Event).where(Event.seq == event.seq))  # visible before any flush
        assert stored.id == event.id and stored.data == {"n": 1}
        return event.seq

    seq = run(write, as_org=ENT)
    assert run(lambda ctx: ctx.session.scalar(select(Event.type).where(Event.seq == seq))) == "filing.updated"
