"""Plays the planned traffic on a running platform, every party through the HTTP API, on simulated time.

One coroutine per vessel discharges its containers and starts one coroutine
per consignment; that one files, and runs one coroutine per agency (receipt,
decision, inspection, release) and finally the terminal's gate-outs. An
inspection is driven once, by whichever of its agencies gets there first:
relocation by the terminal, the enterprise's appointment, check-ins, results.
The terminal moves a container for one inspection at a time (it is at one
place), so with matching off a container two agencies want is moved, opened
and inspected twice, one after the other.

Waiting for the platform (a match, a lapsed appointment, absences marked by
its scheduler) is polling at :data:`POLL` simulated seconds. A consignment
that meets an answer it cannot go on from is recorded as failed with the
platform's message; the others carry on.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from onewindow.simulator.client import Api, PlatformError, SimTime
from onewindow.simulator.parties import Parties, enterprise_key
from onewindow.simulator.plan import HOUR, MINUTE, AgencyPlan, ConsignmentPlan, Traffic, VesselPlan

POLL = 10 * MINUTE
GIVE_UP = 3 * 24 * HOUR
"""How long (simulated) any one wait may last before the consignment is recorded as failed."""
LEAD = 5 * MINUTE
"""Simulated time between reading the platform's clock and the first vessel's planned start."""


@dataclass
class Filed:
    """A consignment on the platform: its filing, its declarations by agency, the inspections being driven."""

    plan: ConsignmentPlan
    enterprise_index: int
    filing_id: str = ""
    declarations: dict[str, str] = field(default_factory=dict)
    driving: dict[str, asyncio.Future] = field(default_factory=dict)

    @property
    def enterprise(self) -> str:
        """The party key of the filing enterprise."""
        return enterprise_key(self.enterprise_index)


@dataclass
class Outcome:
    """What the run did: filing ids by consignment, failures with the platform's message."""

    filings: dict[int, str] = field(default_factory=dict)
    enterprises: dict[int, str] = field(default_factory=dict)
    gated_out: set[int] = field(default_factory=set)
    failures: dict[int, str] = field(default_factory=dict)
    arrivals: dict[str, datetime] = field(default_factory=dict)
    """Discharge time of each container, as the platform recorded it (its answer to the arrival)."""
    late_checkins: int = 0
    """Check-ins the plan made in time that the platform refused as too late: requests took so long that the
    grace passed (the speed is too high for this machine)."""
    started_at: datetime | None = None
    ended_at: datetime | None = None


async def together(*steps) -> None:
    """Run ``steps`` side by side; the first :class:`PlatformError` stops the others and is raised."""
    try:
        async with asyncio.TaskGroup() as group:
            for step in steps:
                group.create_task(step)
    except* PlatformError as errors:
        raise errors.exceptions[0] from None


class Driver:
    """Plays ``traffic`` on the platform behind ``api`` as ``parties``; ``done(i)`` after each consignment."""

    def __init__(self, api: Api, time: SimTime, parties: Parties, traffic: Traffic,
                 done: Callable[[int], None] = lambda _i: None) -> None:
        self.api, self.time, self.parties, self.traffic, self.done = api, time, parties, traffic, done
        self.outcome = Outcome()
        self._container_locks: dict[str, asyncio.Lock] = {}
        self.start: datetime | None = None

    async def run(self) -> Outcome:
        self.start = self.time.now() + timedelta(seconds=LEAD)
        self.outcome.started_at = self.start
        await asyncio.gather(*(self._vessel(v) for v in self.traffic.vessels))
        self.outcome.ended_at = self.time.now()
        return self.outcome

    async def _vessel(self, vessel: VesselPlan) -> None:
        await self.time.until(self.start + timedelta(seconds=vessel.arrival))
        try:
            answer = await self.api.call("terminal", "POST", "/terminal/arrivals", expect=(201,),
                                         json={"containers": vessel.containers,
                                               "conveyance": {"name": vessel.name, "voyage": vessel.voyage}})
        except PlatformError as error:
            for c in vessel.consignments:
                self._failed(c, f"discharge: {error}")
            return
        for visit in answer["containers"]:
            self.outcome.arrivals[visit["number"]] = datetime.fromisoformat(visit["arrived_at"])
        await asyncio.gather(*(self._consignment(c) for c in vessel.consignments))

    def _failed(self, plan: ConsignmentPlan, message: str) -> None:
        self.outcome.failures[plan.index] = message
        self.done(plan.index)

    async def _consignment(self, plan: ConsignmentPlan) -> None:
        filed = Filed(plan=plan, enterprise_index=plan.enterprise % len(self.parties.enterprises))
        try:
            await self.time.sleep(plan.file_delay)
            await self._file(filed)
            await together(*(self._agency(filed, a) for a in filed.declarations))
            await self.time.sleep(plan.gate_out_delay)
            for number in plan.containers:
                await self._retry(lambda n=number: self.api.call("terminal", "POST", f"/containers/{n}/gate-out",
                                                                 tolerate=("not_released",)),
                                  f"gate-out of {number}")
        except PlatformError as error:
            for task in filed.driving.values():
                task.cancel()
            self._failed(plan, str(error))
            return
        self.outcome.gated_out.add(plan.index)
        self.done(plan.index)

    async def _file(self, filed: Filed) -> None:
        """The enterprise's one-time entry and its filing."""
        p = self.parties
        entry = {**filed.plan.entry, "customs_office": p.customs_office, "ciq_office": p.ciq_office, "port": p.port,
                 "consignee": {**filed.plan.entry["consignee"], "uscc": p.enterprises[filed.enterprise_index]}}
        filing = await self.api.call(filed.enterprise, "POST", "/filings", json=entry, expect=(201,))
        filed.filing_id = filing["id"]
        filed.declarations = {d["agency"]: d["id"] for d in filing["declarations"]}
        unplanned = set(filed.declarations) - set(filed.plan.agencies)
        if unplanned:
            raise PlatformError(f"the platform made a {', '.join(sorted(unplanned))} declaration the plan "
                                "did not expect (another inspection catalogue?)")
        self.outcome.filings[filed.plan.index] = filed.filing_id
        self.outcome.enterprises[filed.plan.index] = filed.enterprise
        await self.api.call(filed.enterprise, "POST", f"/filings/{filed.filing_id}/submit", json={})

    async def _agency(self, filed: Filed, agency: str) -> None:
        """One agency's part: receipt (maybe a rejection and a new filing), decision, inspection, release."""
        plan, declaration = filed.plan.agencies[agency], filed.declarations[agency]
        await self.time.sleep(plan.accept_delay)
        if plan.reject:
            await self.api.call(agency, "POST", f"/declarations/{declaration}/reject",
                                json={"reason": "随附单证与申报不符 documents do not match the declaration"})
            await self.time.sleep(plan.refile_delay)
            await self.api.call(filed.enterprise, "POST", f"/filings/{filed.filing_id}/submit",
                                json={"agencies": [agency]})
            await self.time.sleep(plan.reaccept_delay)
        await self.api.call(agency, "POST", f"/declarations/{declaration}/accept")
        await self.time.sleep(plan.decide_delay)
        body: dict[str, Any] = {"inspect": False}
        if plan.inspect:
            body = {"inspect": True, "containers": filed.plan.containers, "kind": plan.kind,
                    "reason": "布控指令 risk profile hit"}
        await self.api.call(agency, "POST", f"/declarations/{declaration}/decision", json=body, expect=(201,))
        if plan.inspect:
            await self._inspections(filed, agency)
        await self.time.sleep(plan.release_delay)
        await self._release(agency, declaration)
        if plan.hold:
            await self.time.sleep(plan.hold_delay)
            await self.api.call(agency, "POST", f"/declarations/{declaration}/revoke-release",
                                json={"reason": "复核单证 documents under review"})
            await self.time.sleep(plan.rerelease_delay)
            await self._release(agency, declaration)

    async def _release(self, agency: str, declaration: str) -> None:
        await self._retry(lambda: self.api.call(agency, "POST", f"/declarations/{declaration}/release",
                                                tolerate=("inspection_open", "decision_pending")),
                          f"{agency} release")

    async def _retry(self, request, what: str) -> Any:
        """Send ``request`` until it is not a tolerated conflict (polling on simulated time)."""
        waited = 0.0
        while True:
            answer = await request()
            if not (isinstance(answer, dict) and "error" in answer):
                return answer
            if waited > GIVE_UP:
                raise PlatformError(f"{what}: still {answer['error']['code']} after {GIVE_UP / HOUR:.0f} h")
            await self.time.sleep(POLL)
            waited += POLL

    async def _wait(self, check, what: str) -> Any:
        """Poll ``check()`` until it returns something true."""
        waited = 0.0
        while not (found := await check()):
            if waited > GIVE_UP:
                raise PlatformError(f"gave up waiting {GIVE_UP / HOUR:.0f} simulated hours for {what}")
            await self.time.sleep(POLL)
            waited += POLL
        return found

    async def _inspections(self, filed: Filed, agency: str) -> None:
        """Wait for the agency's decision to be matched, see its inspections through, adopt where absent."""
        declaration = filed.declarations[agency]

        async def matched():
            d = await self.api.call(agency, "GET", f"/declarations/{declaration}")
            return d["status"] != "accepted"

        await self._wait(matched, f"the {agency} decision to be matched")
        mine = [i for i in await self.api.call(agency, "GET", f"/inspections?filing={filed.filing_id}")
                if agency in i["agencies"]]
        for inspection in mine:
            if inspection["id"] not in filed.driving:
                filed.driving[inspection["id"]] = asyncio.ensure_future(self._inspection(filed, inspection["id"]))
        await asyncio.gather(*(filed.driving[i["id"]] for i in mine))
        for inspection in mine:
            fresh = await self.api.call(agency, "GET", f"/inspections/{inspection['id']}")
            me = next(r for r in fresh["results"] if r["agency"] == agency)
            if me["absent"] and me["adopted_at"] is None and me["reinspected_at"] is None:
                await self.api.call(agency, "POST", f"/inspections/{inspection['id']}/adopt")

    async def _inspection(self, filed: Filed, inspection_id: str) -> None:
        """Relocation, appointment, check-ins and results of one inspection, until it is completed."""
        inspection = await self.api.call("terminal", "GET", f"/inspections/{inspection_id}")
        numbers = sorted(inspection["containers"])
        for n in numbers:  # the terminal moves a container for one inspection at a time
            await self._container_locks.setdefault(n, asyncio.Lock()).acquire()
        try:
            await self._relocate(filed, inspection_id)
            attempt = 0
            while not await self._appointment(filed, inspection_id, first=attempt == 0):
                attempt += 1
            await self._wait(lambda: self._status_is(inspection_id, "completed"),
                             f"inspection {inspection_id} to be completed")
        finally:
            for n in numbers:
                self._container_locks[n].release()

    async def _status_is(self, inspection_id: str, status: str) -> bool:
        inspection = await self.api.call("terminal", "GET", f"/inspections/{inspection_id}")
        return inspection["status"] == status

    async def _relocate(self, filed: Filed, inspection_id: str) -> None:
        async def task():
            tasks = await self.api.call("terminal", "GET", "/terminal/tasks?status=open")
            return next((t for t in tasks if t["inspection_id"] == inspection_id), None)

        found = await self._wait(task, f"the relocation task of inspection {inspection_id}")
        await self.time.sleep(filed.plan.relocation_delay)
        await self.api.call("terminal", "POST", f"/terminal/tasks/{found['id']}/complete",
                            json={"location": f"查验区 inspection area B{1 + filed.plan.index % 9}"})

    async def _appointment(self, filed: Filed, inspection_id: str, *, first: bool) -> bool:
        """Book, check in, record results; False when nobody came and the appointment lapsed (book again)."""
        at = self._slot(self.time.now() + timedelta(seconds=filed.plan.appointment_lead))
        await self.api.call(filed.enterprise, "POST", f"/inspections/{inspection_id}/appointment",
                            json={"at": at.isoformat()})
        await self.time.until(at)
        inspection = await self.api.call("terminal", "GET", f"/inspections/{inspection_id}")
        agencies = inspection["agencies"]
        present = await asyncio.gather(*(self._check_in(filed.plan.agencies[a], a, inspection_id, at, first)
                                         for a in agencies))
        if not any(present):
            await self._wait(lambda: self._status_is(inspection_id, "ready"),
                             f"the lapsed appointment of inspection {inspection_id}")
            return False
        await asyncio.gather(*(self._result(filed.plan.agencies[a], a, inspection_id)
                               for a, came in zip(agencies, present, strict=True) if came))
        return True

    @staticmethod
    def _slot(when: datetime) -> datetime:
        """The next half hour at or after ``when``: appointments are booked on the half hour."""
        half = 30 * MINUTE
        return datetime.fromtimestamp(math.ceil(when.timestamp() / half) * half, when.tzinfo)

    async def _check_in(self, plan: AgencyPlan, agency: str, inspection_id: str, at: datetime, first: bool) -> bool:
        if plan.no_show and first:
            return False
        await self.time.until(at + timedelta(seconds=plan.checkin_offset))
        answer = await self.api.call(agency, "POST", f"/inspections/{inspection_id}/check-in",
                                     tolerate=("absent", "not_scheduled"))
        if "error" in answer:
            self.outcome.late_checkins += 1
            return False
        return True

    async def _result(self, plan: AgencyPlan, agency: str, inspection_id: str) -> None:
        await self.time.sleep(plan.result_delay)
        body = ({"outcome": "nonconforming", "findings": "标签不符 labels do not match",
                 "disposal": "整改后放行 relabelled under supervision"} if plan.nonconforming
                else {"outcome": "conforming", "findings": "货证相符 goods match the documents"})
        await self.api.call(agency, "POST", f"/inspections/{inspection_id}/results", json=body)
