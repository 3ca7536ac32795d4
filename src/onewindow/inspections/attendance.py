"""After the match: relocation by the terminal, the appointment, check-in, absences and results."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, select

from onewindow.context import Context
from onewindow.errors import Conflict, Text, ValidationFailed, field_error, text_errors
from onewindow.inspections import repository
from onewindow.inspections.service import inspection_event, inspection_status_name
from onewindow.inspections.stored import read, write
from onewindow.models import (
    Inspection, InspectionContainer, InspectionDeclaration, InspectionParticipant, InspectionStatus,
    RelocationTask,
)
from onewindow.parties.permissions import Permission
from onewindow.sql import Prepared

OUTCOMES = ("conforming", "nonconforming")
LOCATION_MOST = 200
"""The longest location of relocated containers (:func:`relocate`), in characters: the API's schema and this
service refuse a longer one alike."""
FINDINGS_MOST, DISPOSAL_MOST = 2000, 1000
"""The longest findings and disposal of a result (:func:`record_result`), in characters."""
_DECLARATIONS = Prepared(select(InspectionDeclaration.declaration_id)
                         .where(InspectionDeclaration.inspection_id == bindparam("inspection_id"))
                         .order_by(InspectionDeclaration.declaration_id))
"""The declarations an inspection serves."""


def complete_task(ctx: Context, task_id: str, location: str) -> RelocationTask:
    """The terminal moved the containers to ``location``: the inspection becomes ``ready``."""
    return relocate(ctx, task_id, location)[0]


def _not_bookable(status: str) -> Text:
    """Why an inspection in ``status`` (not ready nor scheduled) cannot be booked."""
    if status == InspectionStatus.awaiting_relocation.value:
        return Text("the inspection is {status}; it can be booked once the containers are moved",
                    status=inspection_status_name(status))
    return Text("the inspection is {status}; it has already started, there is nothing to book",
                status=inspection_status_name(status))


def relocate(ctx: Context, task_id: str, location: str) -> tuple[RelocationTask, Inspection]:
    """:func:`complete_task`, answering the task and its inspection (with its containers and participants).

    422 naming ``location`` when it is blank, longer than :data:`LOCATION_MOST` characters once stripped, or
    holds a NUL character; 409 when the task is already done."""
    actor = ctx.as_actor()
    task = repository.get_task(ctx, task_id, for_update=True)
    actor.require(Permission.terminal_operate)
    if not location or not location.strip():
        raise ValidationFailed([field_error(["location"], Text("say where the containers now are"))])
    if errors := text_errors(["location"], location.strip(), LOCATION_MOST):
        raise ValidationFailed(errors)
    if task.status != "open":
        raise Conflict(Text("this relocation task is already completed"), code="task_done")
    inspection = repository.get_inspection_unscoped(ctx, task.inspection_id, for_update=True)
    write(ctx.session, task, status="done", location=location.strip(), completed_at=ctx.now(),
          completed_by=actor.org_id)
    ready = InspectionStatus.ready.value if inspection.status == InspectionStatus.awaiting_relocation.value else None
    write(ctx.session, inspection, location=task.location, relocated_at=ctx.now(),
          status=ready or inspection.status)
    inspection_event(ctx, inspection, "inspection.relocated", location=task.location)
    return task, inspection


BOOKING_HORIZON = timedelta(days=365)
"""How far ahead an inspection may be booked: an inspection is days away, and a time past any calendar's end
(the year 9999) could not have the check-in grace added to it."""


def book(ctx: Context, inspection_id: str, at: datetime) -> Inspection:
    """The enterprise books the inspection for ``at`` (not in the past, at most :data:`BOOKING_HORIZON`
    ahead): ``scheduled``."""
    actor = ctx.as_actor()
    inspection = repository.get_inspection(ctx, inspection_id, for_update=True)
    actor.require(Permission.inspection_book)
    if at.tzinfo is None:
        raise ValidationFailed([field_error(["at"], Text("give the time with its offset, e.g. "
                                                         "2026-03-02T14:00:00+08:00"))])
    if at < ctx.now():
        raise ValidationFailed([field_error(["at"], Text("the appointment cannot be in the past"))])
    if at > ctx.now() + BOOKING_HORIZON:
        raise ValidationFailed([field_error(["at"], Text("the appointment cannot be more than a year ahead"))])
    if inspection.status not in (InspectionStatus.ready.value, InspectionStatus.scheduled.value):
        raise Conflict(_not_bookable(inspection.status), code="not_ready")
    write(ctx.session, inspection, appointment_at=at, status=InspectionStatus.scheduled.value)
    inspection_event(ctx, inspection, "inspection.scheduled", appointment_at=at.isoformat())
    return inspection


def _participant(ctx: Context, inspection: Inspection) -> InspectionParticipant:
    actor = ctx.as_actor()
    for p in inspection.participants:
        if p.organisation_id == actor.org_id:
            return p
    raise Conflict(Text("your office does not take part in this inspection"), code="not_a_participant")


def check_in(ctx: Context, inspection_id: str) -> Inspection:
    """An agency of the inspection arrives; the first check-in starts it (``in_progress``).

    409 before the appointment is booked, after the grace deadline (the
    agency is then absent) or once checked in.
    """
    actor = ctx.as_actor()
    inspection = repository.get_inspection(ctx, inspection_id, for_update=True)
    actor.require(Permission.inspection_attend)
    participant = _participant(ctx, inspection)
    mark_absences(ctx, inspection)
    if participant.absent:
        raise Conflict(Text("the check-in grace has passed: your office is recorded absent"), code="absent")
    if inspection.status not in (InspectionStatus.scheduled.value, InspectionStatus.in_progress.value):
        raise Conflict(Text("the inspection is {status}; check in once it is booked",
                            status=inspection_status_name(inspection.status)), code="not_scheduled")
    if participant.checked_in_at is not None:
        raise Conflict(Text("your office has already checked in"), code="already_checked_in")
    write(ctx.session, participant, checked_in_at=ctx.now(), checked_in_by=actor.user_id)
    if inspection.status == InspectionStatus.scheduled.value:
        write(ctx.session, inspection, status=InspectionStatus.in_progress.value, started_at=ctx.now())
        inspection_event(ctx, inspection, "inspection.started")
    inspection_event(ctx, inspection, "inspection.checked_in", agency=participant.agency)
    return inspection


def grace(ctx: Context) -> timedelta:
    return timedelta(seconds=ctx.settings.checkin_grace_seconds)


def mark_absences(ctx: Context, inspection: Inspection) -> bool:
    """Record absent every agency not checked in by ``appointment + grace``; True when something changed.

    If nobody came, the appointment lapses and the inspection is ``ready`` to
    be booked again; if some came, they inspect alone.
    """
    if inspection.appointment_at is None or ctx.now() < inspection.appointment_at + grace(ctx):
        return False
    if inspection.status not in (InspectionStatus.scheduled.value, InspectionStatus.in_progress.value):
        return False
    missing = [p for p in inspection.participants if p.checked_in_at is None and not p.absent]
    if inspection.status == InspectionStatus.scheduled.value:
        write(ctx.session, inspection, status=InspectionStatus.ready.value, appointment_at=None)
        inspection_event(ctx, inspection, "inspection.appointment_lapsed")
        return True
    for p in missing:
        write(ctx.session, p, absent=True)
        inspection_event(ctx, inspection, "inspection.absent", agency=p.agency)
    _complete_if_done(ctx, inspection)
    return bool(missing)


def record_result(ctx: Context, inspection_id: str, body: dict[str, Any]) -> Inspection:
    """A present agency's result; the inspection is ``completed`` when every present agency has one.

    422 naming each bad field at once: an outcome other than conforming or nonconforming, a nonconforming
    result without its disposal, findings or disposal that are not text of at most :data:`FINDINGS_MOST` or
    :data:`DISPOSAL_MOST` characters, or hold a NUL character."""
    actor = ctx.as_actor()
    inspection = repository.get_inspection(ctx, inspection_id, for_update=True)
    actor.require(Permission.inspection_attend)
    participant = _participant(ctx, inspection)
    outcome = body.get("outcome")
    errors = [] if outcome in OUTCOMES else [field_error(["outcome"], Text("must be conforming or nonconforming"))]
    if outcome == "nonconforming" and not (body.get("disposal") or "").strip():
        errors.append(field_error(["disposal"], Text("a nonconforming result needs its disposal")))
    for field, limit in (("findings", FINDINGS_MOST), ("disposal", DISPOSAL_MOST)):
        value = body.get(field)
        if value is not None and (not isinstance(value, str) or len(value) > limit):
            errors.append(field_error([field], Text("must be text of at most {limit} characters", limit=limit)))
        elif value is not None:
            errors += text_errors([field], value, limit)  # a NUL character
    if errors:
        raise ValidationFailed(errors)
    if participant.checked_in_at is None or participant.absent:
        raise Conflict(Text("only an agency that checked in records a result"), code="not_checked_in")
    if participant.result_at is not None:
        raise Conflict(Text("your office has already recorded its result"), code="result_recorded")
    write(ctx.session, participant, outcome=outcome, result_at=ctx.now(), result_by=actor.user_id,
          findings=body.get("findings") or None, disposal=body.get("disposal") or None)
    inspection_event(ctx, inspection, "inspection.result_recorded", agency=participant.agency, outcome=outcome)
    _complete_if_done(ctx, inspection)
    return inspection


def _complete_if_done(ctx: Context, inspection: Inspection) -> None:
    present = [p for p in inspection.participants if not p.absent]
    if inspection.status == InspectionStatus.in_progress.value and all(p.result_at for p in present):
        write(ctx.session, inspection, status=InspectionStatus.completed.value, completed_at=ctx.now())
        inspection_event(ctx, inspection, "inspection.completed",
                         outcomes={p.agency: p.outcome for p in present})


def adopt(ctx: Context, inspection_id: str) -> Inspection:
    """An absent agency relies on the present agencies' results (结果共享): its part is settled."""
    actor = ctx.as_actor()
    inspection = repository.get_inspection(ctx, inspection_id, for_update=True)
    actor.require(Permission.inspection_attend)
    participant = _participant(ctx, inspection)
    if not participant.absent:
        raise Conflict(Text("only an absent agency adopts the others' results"), code="not_absent")
    if inspection.status != InspectionStatus.completed.value:
        raise Conflict(Text("the results can be adopted once the inspection is completed"), code="not_completed")
    _not_settled(participant)
    write(ctx.session, participant, adopted_at=ctx.now())
    inspection_event(ctx, inspection, "inspection.results_adopted", agency=participant.agency)
    return inspection


def _not_settled(participant: InspectionParticipant) -> None:
    """409 when the absent agency already adopted the results or asked for an inspection of its own."""
    if participant.adopted_at is not None:
        raise Conflict(Text("already adopted"), code="already_adopted")
    if participant.reinspected_at is not None:
        raise Conflict(Text("already asked for its own inspection ({inspection})",
                            inspection=participant.reinspection_id), code="already_reinspected")


def reinspect(ctx: Context, inspection_id: str) -> Inspection:
    """An absent agency gets a new single inspection of the same containers."""
    actor = ctx.as_actor()
    inspection = repository.get_inspection(ctx, inspection_id, for_update=True)
    actor.require(Permission.inspection_attend)
    participant = _participant(ctx, inspection)
    if not participant.absent:
        raise Conflict(Text("only an absent agency asks for its own inspection"), code="not_absent")
    _not_settled(participant)
    new = Inspection(id=uuid.uuid4(), port=inspection.port, status=InspectionStatus.awaiting_relocation.value,
                     joint=False, late=True, matched_at=ctx.now())
    new.containers = [InspectionContainer(number=n) for n in inspection.container_numbers]
    new.declarations = [InspectionDeclaration(declaration_id=i)
                        for (i,) in read(ctx.session, _DECLARATIONS, {"inspection_id": inspection.id})]
    new.participants = [InspectionParticipant(agency=participant.agency, organisation_id=participant.organisation_id,
                                              kinds=participant.kinds, reasons=participant.reasons)]
    ctx.session.add(new)
    ctx.session.flush()  # the new inspection exists before its part of this one refers to it
    write(ctx.session, participant, reinspected_at=ctx.now(), reinspection_id=new.id)  # its part moves there
    ctx.session.add(RelocationTask(inspection_id=new.id, port=new.port, created_at=ctx.now()))
    inspection_event(ctx, new, "inspection.matched", reinspection_of=str(inspection.id))
    return new


PAST_GRACE = (select(Inspection).where(
    Inspection.status.in_([InspectionStatus.scheduled.value, InspectionStatus.in_progress.value]),
    Inspection.appointment_at <= bindparam("cutoff")).with_for_update(skip_locked=True))
"""Booked or started inspections whose appointment was at ``:cutoff`` or before (through their status and
appointment index: the scheduler asks every round)."""


def run_due(ctx: Context) -> int:
    """Record absences of every appointment past its grace; returns how many inspections changed."""
    due = ctx.session.scalars(PAST_GRACE, {"cutoff": ctx.now() - grace(ctx)})
    return sum(1 for inspection in due.all() if mark_absences(ctx, inspection))
