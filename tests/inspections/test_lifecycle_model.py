"""A consignment's life over HTTP held to a model of the contract's rules, on random sequences of steps.

Hypothesis drives the parties of one consignment (customs, CIQ, the terminal, the enterprise) through
decisions, the match window, relocation, appointments, check-ins, the check-in grace, results, adoption,
new inspections, releases, holds, gate-outs, a late acceptance and amendments of the containers a
declaration covers, in any order, each step as often as it likes. The model says
after each step what the platform must have answered and what every party must then see:

- what each step answers (the refusals of the contract: 409 with its code where the model knows it);
- which inspections a match makes (containers wanted by the same agencies share one; joint when two or more
  agencies; a container whose inspection has started gets a late single inspection; one whose inspection has
  not started is joined, never opened twice);
- each inspection's status, agencies, absences and results;
- each container's combined release (released when every agency with an accepted declaration covering it
  has released, no hold in force) and gate-out;
- the ``container.released`` and ``container.release_revoked`` events the terminal and the enterprise get:
  one per change of the combined release, and never a confidential reason in what the enterprise sees.
"""

from __future__ import annotations

import itertools
import os
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from hypothesis import HealthCheck, settings, strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule, run_state_machine_as_test

from onewindow.inspections import attendance, service
from onewindow.samples import sample_entry
from tests.flows import API, ENT, OFFICES, TERMINAL, file_entry, ok
from tests.steps import Steps

WINDOW = timedelta(seconds=7200)
GRACE = timedelta(seconds=1800)
AGENCIES = ("customs", "ciq")
SEEDS = itertools.count(7000)
"""Each consignment's containers are new to the database (the examples share one)."""
STARTED = ("in_progress", "completed")
step = Steps()
"""The steps of a life (``tests.steps``)."""


@dataclass
class Part:
    """One agency's part in an inspection, as the model expects it."""

    checked_in: bool = False
    absent: bool = False
    outcome: str | None = None
    adopted: bool = False
    reinspected: bool = False


@dataclass
class Inspection:
    containers: set[str]
    parts: dict[str, Part]
    late: bool
    status: str = "awaiting_relocation"
    appointment: datetime | None = None
    task_open: bool = True

    @property
    def agencies(self) -> list[str]:
        return sorted(self.parts)


@dataclass
class Declaration:
    id: str
    status: str  # submitted, accepted, inspecting (an inspection of its decision made), released
    containers: set[str]  # those it covers (an amendment may change them)
    decided_at: datetime | None = None
    wanted: frozenset[str] | None = None  # None: no decision yet; empty: no inspection
    matched: bool = False

    @property
    def released(self) -> bool:
        return self.status == "released"


@dataclass
class Container:
    released: bool = False
    gated_out: bool = False
    events: Counter = field(default_factory=Counter)  # the combined release's changes the parties must be told


class ConsignmentLife(RuleBasedStateMachine):
    """One consignment of two or three containers, declared to customs and (mostly) to CIQ."""

    def __init__(self, client, world, run, clock) -> None:
        super().__init__()
        self.client, self.world, self.run, self.clock = client, world, run, clock
        self.inspections: dict[str, Inspection] = {}
        self.cursors: dict[str, str | None] = {ENT: None, TERMINAL: None}
        self.seen: dict[str, Counter] = {ENT: Counter(), TERMINAL: Counter()}
        self.reasons: set[str] = set()

    # --- set-up ------------------------------------------------------------------------------------------

    @initialize(containers=st.integers(2, 3), ciq=st.sampled_from(["accepted"] * 3 + ["submitted", "none"]))
    def file(self, containers: int, ciq: str) -> None:
        """The consignment discharged, filed, submitted; customs accepts; CIQ accepts, or not yet, or the goods
        need no CIQ declaration."""
        entry = sample_entry(seed=next(SEEDS), containers=containers, inspected=ciq != "none")
        accept = ("customs", "ciq") if ciq == "accepted" else ("customs",)
        self.filing, ids, numbers = file_entry(self.client, self.world, entry, accept=accept)
        self.declarations = {a: Declaration(ids[a], "accepted" if a in accept else "submitted", set(numbers))
                             for a in ids}
        self.containers = {n: Container() for n in numbers}
        self.numbers, self.entry_containers = numbers, entry["containers"]

    @rule(data=st.data())
    def next_step(self, data) -> None:
        """One step, drawn by weight among those the model's state allows, with its parameters."""
        step.draw(self, data)

    # --- helpers -----------------------------------------------------------------------------------------

    def post(self, party: str, path: str, body: dict | None = None):
        return self.client.post(f"{API}{path}", json=body, headers=self.world.headers(party))

    def get(self, party: str, path: str):
        return self.client.get(f"{API}{path}", headers=self.world.headers(party))

    def refused(self, answer, code: str | None = None) -> None:
        assert answer.status_code == 409, answer.text
        if code:
            assert answer.json()["error"]["code"] == code, answer.text

    def covering(self, number: str) -> list[str]:
        """Agencies whose declaration covers ``number``: accepted, inspecting or released."""
        return sorted(a for a, d in self.declarations.items() if d.status != "submitted" and number in d.containers)

    def pending(self, number: str) -> list[str]:
        return [a for a in self.covering(number) if not self.declarations[a].released]

    def pick(self, i: int, fit: Callable[[Inspection], bool] | None = None) -> tuple[str, Inspection]:
        """The ``i``-th inspection (modulo their number), among those ``fit`` accepts if any does: a step
        that can go ahead is tried more often than one refused."""
        keys = list(self.inspections)  # in the order they were made: the same on every run of an example
        if fit is not None and (fitting := [k for k in keys if fit(self.inspections[k])]):
            keys = fitting
        key = keys[i % len(keys)]
        return key, self.inspections[key]

    def now(self) -> datetime:
        return self.clock.now()

    # --- matching ----------------------------------------------------------------------------------------

    def match_due(self, *, window_closed: bool) -> None:
        """Match the decisions waiting once every covering agency has decided (or released), or the earliest
        one's window has passed (the consignment is one group: both declarations cover every container); then
        hold the inspections the platform made to the rules."""
        waiting = {a: d for a, d in self.declarations.items() if d.wanted is not None and not d.matched}
        numbers = {n for d in waiting.values() for n in d.containers}
        settled = all(self.declarations[a].wanted is not None or self.declarations[a].released
                      for n in numbers for a in self.covering(n))
        due = waiting and (settled or window_closed and min(d.decided_at for d in waiting.values()) + WINDOW
                           <= self.now())
        for d in waiting.values() if due else ():
            d.matched = True
            if d.wanted and d.status == "accepted":  # each container it wants is in an inspection of it now
                d.status = "inspecting"
        self.check_inspections(deciders={a: d.wanted for a, d in waiting.items()} if due else None)

    def check_inspections(self, deciders: dict[str, frozenset[str]] | None = None) -> None:
        """What the enterprise sees equals the model; the inspections a match of ``deciders`` (agency → the
        containers it wants inspected) made follow the rules."""
        seen = {i["id"]: i for i in ok(self.get(ENT, f"/inspections?filing={self.filing}"))}
        new = {k: v for k, v in seen.items() if k not in self.inspections}
        if deciders is None:
            assert not new, new
        else:
            self.learn_match(deciders, new)
        assert set(seen) == set(self.inspections)
        for key, model in self.inspections.items():
            found = seen[key]
            assert set(found["containers"]) == model.containers, (found, model)
            assert found["agencies"] == model.agencies and found["joint"] == (len(model.parts) > 1), (found, model)
            assert found["status"] == model.status, (found, model)
            for part in found["results"]:
                expected = model.parts[part["agency"]]
                assert part["reasons"] is None  # never to the enterprise
                assert (part["absent"], part["checked_in_at"] is not None, part["outcome"],
                        part["adopted_at"] is not None, part["reinspected_at"] is not None) == (
                    expected.absent, expected.checked_in, expected.outcome, expected.adopted, expected.reinspected)

    def learn_match(self, deciders: dict[str, frozenset[str]], new: dict[str, dict]) -> None:
        """The rules of a match: per container wanted, a started inspection → the agency's late single
        inspection; one not started → joined; else new inspections, one per set of agencies wanting it."""
        late: dict[str, set[str]] = {}
        fresh: dict[str, set[str]] = {}  # container → agencies wanting it with no inspection to join
        joined: dict[str, set[str]] = {}  # inspection key → agencies joining it
        for agency, wanted in deciders.items():
            for number in wanted:
                holding = [k for k, i in self.inspections.items() if number in i.containers]
                if any(self.inspections[k].status in STARTED for k in holding):
                    late.setdefault(agency, set()).add(number)
                elif holding:
                    joined.setdefault(holding[0], set()).add(agency)
                else:
                    fresh.setdefault(number, set()).add(agency)
        expected = [(frozenset(ns), (a,), True) for a, ns in late.items()]
        by_set: dict[frozenset[str], set[str]] = {}
        for number, agencies in fresh.items():
            by_set.setdefault(frozenset(agencies), set()).add(number)
        expected += [(frozenset(ns), tuple(sorted(agencies)), False) for agencies, ns in by_set.items()]
        made = [(frozenset(i["containers"]), tuple(i["agencies"]), i["late"]) for i in new.values()]
        order = lambda e: (sorted(e[0]), e[1], e[2])  # noqa: E731
        assert sorted(made, key=order) == sorted(expected, key=order), (made, expected)
        place = {n: i for i, n in enumerate(self.numbers)}  # the same on every run of an example (not the numbers)
        for key, found in sorted(new.items(), key=lambda kv: (sorted(place[n] for n in kv[1]["containers"]),
                                                              kv[1]["agencies"])):
            self.inspections[key] = Inspection(set(found["containers"]), {a: Part() for a in found["agencies"]},
                                               found["late"])
        for key, agencies in joined.items():
            for agency in agencies:
                self.inspections[key].parts.setdefault(agency, Part())

    # --- decisions and the window ------------------------------------------------------------------------

    @step(3, lambda life: any(d.wanted is None and d.status == "accepted" for d in life.declarations.values()),
          agency=st.sampled_from(AGENCIES), inspect=st.sampled_from([True, True, True, False]),
          which=st.sets(st.integers(0, 2), min_size=1),
          kind=st.sampled_from(["physical", "machine_scan", "sampling", "quarantine_treatment"]), fit=st.booleans())
    def decide(self, agency: str, inspect: bool, which: set[int], kind: str, fit: bool) -> None:
        """The agency's decision (with ``fit``, an agency that can decide, if any); refused once decided or while
        the declaration is not accepted."""
        undecided = [a for a, d in self.declarations.items() if d.status == "accepted" and d.wanted is None]
        if fit and undecided:
            agency = agency if agency in undecided else undecided[0]
        if agency not in self.declarations:
            return
        d = self.declarations[agency]
        wanted = sorted({self.numbers[i % len(self.numbers)] for i in which}) if inspect else []
        reason = f"confidential {agency} {len(self.reasons)}"
        body = {"inspect": True, "containers": wanted, "kind": kind, "reason": reason} if inspect else {
            "inspect": False}
        answer = self.post(OFFICES[agency], f"/declarations/{d.id}/decision", body)
        if d.status != "accepted" or d.wanted is not None:
            self.refused(answer)
            return
        if not set(wanted) <= d.containers:  # amended away
            assert answer.status_code == 422, answer.text
            assert {tuple(e["loc"][:1]) for e in answer.json()["error"]["details"]} == {("containers",)}
            return
        if any(self.containers[n].gated_out for n in wanted):  # accepted after they left
            self.refused(answer, "gated_out")
            return
        assert answer.status_code == 201, answer.text
        self.reasons.add(reason)
        d.wanted, d.decided_at = frozenset(wanted), self.now()
        self.match_due(window_closed=False)

    @step(2, hours=st.sampled_from([0.25, 0.5, 1, 2.5]))
    def time_passes(self, hours: float) -> None:
        """Time goes by; the deadline scheduler closes the match windows and the check-in grace that passed."""
        self.advance(int(hours * 3600))

    @step(2, lambda life: any(i.status == "in_progress" and not all(p.checked_in or p.absent for p in i.parts.values())
                              for i in life.inspections.values()))
    def grace_passes(self) -> None:
        """Time goes by until an inspection under way is past its check-in grace: an agency that has not checked
        in is recorded absent (a no-show, else rare in random lives)."""
        grace_end = min(i.appointment + GRACE for i in self.inspections.values() if i.status == "in_progress"
                        and not all(p.checked_in or p.absent for p in i.parts.values()))
        self.advance(max(0, int((grace_end - self.now()).total_seconds())) + 60)

    def advance(self, seconds: int) -> None:
        self.clock.advance(seconds=seconds)
        self.run(service.run_due)
        self.run(attendance.run_due)
        for inspection in self.inspections.values():
            self.apply_grace(inspection)
        self.match_due(window_closed=True)

    def apply_grace(self, inspection: Inspection) -> None:
        if inspection.appointment is None or self.now() < inspection.appointment + GRACE:
            return
        if inspection.status == "scheduled":  # nobody came: the appointment lapses
            inspection.status, inspection.appointment = "ready", None
        elif inspection.status == "in_progress":
            for part in inspection.parts.values():
                if not part.checked_in and not part.reinspected:
                    part.absent = True
            self.complete_if_done(inspection)

    def complete_if_done(self, inspection: Inspection) -> None:
        present = [p for p in inspection.parts.values() if not p.absent]
        if inspection.status == "in_progress" and all(p.outcome for p in present):
            inspection.status = "completed"

    @step(1, lambda life: "ciq" in life.declarations and life.declarations["ciq"].status == "submitted")
    def ciq_accepts(self) -> None:
        """CIQ accepts its declaration late: it covers the containers at the port from now on; those that have
        left are gone with their goods (nothing of theirs changes, and they cannot be inspected)."""
        d = self.declarations["ciq"]
        answer = self.post(OFFICES["ciq"], f"/declarations/{d.id}/accept")
        if d.status != "submitted":
            self.refused(answer)
            return
        ok(answer)
        d.status = "accepted"
        self.combined_release()

    @step(1, lambda life: any(d.status in ("submitted", "accepted") for d in life.declarations.values()),
          agency=st.sampled_from(AGENCIES), keep=st.sets(st.integers(0, 2), min_size=1))
    def amends_containers(self, agency: str, keep: set[int]) -> None:
        """An agency amends its declaration to cover only some of the consignment's containers (the others
        short-shipped), or all of them again."""
        if agency not in self.declarations:
            return
        d = self.declarations[agency]
        kept = {self.numbers[i % len(self.numbers)] for i in keep}
        answer = self.post(OFFICES[agency], f"/declarations/{d.id}/amendments", {
            "changes": {"containers": [c for c in self.entry_containers if c["number"] in kept]},
            "reason": "short-shipped"})
        if d.status not in ("submitted", "accepted"):
            self.refused(answer, "not_amendable")
        elif kept == d.containers:
            self.refused(answer, "no_change")
        elif d.wanted and not d.matched and d.wanted - kept:
            self.refused(answer, "named_for_inspection")
        elif any(self.containers[n].gated_out for n in kept - d.containers):
            self.refused(answer, "gated_out")
        else:
            ok(answer, 201)
            d.containers = kept
            self.combined_release()
            self.match_due(window_closed=False)  # a container it no longer covers may not wait for it any more

    # --- the terminal and the inspection -----------------------------------------------------------------

    @step(3, lambda life: any(i.task_open for i in life.inspections.values()), i=st.integers(0, 5),
          fit=st.booleans())
    def relocate(self, i: int, fit: bool) -> None:
        key, inspection = self.pick(i, (lambda x: x.task_open) if fit else None)
        tasks = [t for t in ok(self.get(TERMINAL, "/terminal/tasks")) if t["inspection_id"] == key]
        open_tasks = [t for t in tasks if t["status"] == "open"]
        assert bool(open_tasks) == inspection.task_open, (tasks, inspection)
        if not open_tasks:
            return
        ok(self.post(TERMINAL, f"/terminal/tasks/{open_tasks[0]['id']}/complete", {"location": "B3"}))
        inspection.task_open = False
        if inspection.status == "awaiting_relocation":
            inspection.status = "ready"

    @step(2, lambda life: life.inspections, i=st.integers(0, 5), minutes=st.sampled_from([0, 20, 90]),
          fit=st.booleans())
    def book(self, i: int, minutes: int, fit: bool) -> None:
        key, inspection = self.pick(i, (lambda x: x.status == "ready") if fit else None)
        at = self.now() + timedelta(minutes=minutes)
        answer = self.post(ENT, f"/inspections/{key}/appointment", {"at": at.isoformat()})
        if inspection.status not in ("ready", "scheduled"):
            self.refused(answer, "not_ready")
            return
        assert ok(answer)["status"] == "scheduled"
        inspection.status, inspection.appointment = "scheduled", at

    @step(3, lambda life: any(i.status in ("scheduled", "in_progress") for i in life.inspections.values()),
          i=st.integers(0, 5), agency=st.sampled_from(AGENCIES), fit=st.booleans())
    def check_in(self, i: int, agency: str, fit: bool) -> None:
        key, inspection = self.pick(i, (lambda x: x.status in ("scheduled", "in_progress") and agency in x.parts
                                        and not x.parts[agency].checked_in) if fit else None)
        answer = self.post(OFFICES[agency], f"/inspections/{key}/check-in")
        part = inspection.parts.get(agency)
        if part is None:
            assert answer.status_code in (404, 409), answer.text  # an agency of other inspections only: 404
            return
        if part.absent:
            self.refused(answer, "absent")
        elif inspection.status not in ("scheduled", "in_progress"):
            self.refused(answer, "not_scheduled")
        elif part.checked_in:
            self.refused(answer, "already_checked_in")
        else:
            ok(answer)
            part.checked_in, inspection.status = True, "in_progress"

    @step(3, lambda life: any(i.status == "in_progress" for i in life.inspections.values()), i=st.integers(0, 5),
          agency=st.sampled_from(AGENCIES), conforming=st.booleans(), fit=st.booleans())
    def record_result(self, i: int, agency: str, conforming: bool, fit: bool) -> None:
        key, inspection = self.pick(i, (lambda x: agency in x.parts and x.parts[agency].checked_in
                                        and not x.parts[agency].outcome) if fit else None)
        body = {"outcome": "conforming"} if conforming else {"outcome": "nonconforming", "disposal": "returned"}
        answer = self.post(OFFICES[agency], f"/inspections/{key}/results", body)
        part = inspection.parts.get(agency)
        if part is None:
            assert answer.status_code in (404, 409), answer.text
        elif not part.checked_in or part.absent:
            self.refused(answer, "not_checked_in")
        elif part.outcome:
            self.refused(answer, "result_recorded")
        else:
            ok(answer)
            part.outcome = body["outcome"]
            self.complete_if_done(inspection)

    @step(2, lambda life: any(p.absent for i in life.inspections.values() for p in i.parts.values()),
          i=st.integers(0, 5), agency=st.sampled_from(AGENCIES), adopt=st.booleans(), fit=st.booleans())
    def settle_absence(self, i: int, agency: str, adopt: bool, fit: bool) -> None:
        """An absent agency adopts the others' results, or asks for an inspection of its own."""
        key, inspection = self.pick(i, (lambda x: agency in x.parts and x.parts[agency].absent) if fit else None)
        answer = self.post(OFFICES[agency], f"/inspections/{key}/{'adopt' if adopt else 'reinspect'}")
        part = inspection.parts.get(agency)
        if part is None:
            assert answer.status_code in (404, 409), answer.text
        elif not part.absent:
            self.refused(answer, "not_absent")
        elif part.adopted or part.reinspected:
            self.refused(answer)
        elif adopt and inspection.status != "completed":
            self.refused(answer, "not_completed")
        elif adopt:
            ok(answer)
            part.adopted = True
        else:
            new = ok(answer, 201)
            part.reinspected = True
            assert (new["containers"], new["agencies"], new["late"]) == (sorted(inspection.containers), [agency],
                                                                         True)
            self.inspections[new["id"]] = Inspection(set(inspection.containers), {agency: Part()}, late=True)

    # --- releases and gate-out ---------------------------------------------------------------------------

    def releasable(self, agency: str) -> bool:
        d = self.declarations[agency]
        return (d.status in ("accepted", "inspecting") and not self.blocking(agency)
                and not (d.wanted and not d.matched))

    def blocking(self, agency: str) -> bool:
        """Whether one of the agency's inspections stops its release."""
        for inspection in self.inspections.values():
            part = inspection.parts.get(agency)
            if part is None or part.reinspected:
                continue
            if part.absent and not part.adopted or not part.absent and inspection.status != "completed":
                return True
        return False

    @step(3, lambda life: any(d.wanted is not None for d in life.declarations.values()),
          agency=st.sampled_from(AGENCIES), fit=st.booleans())
    def release(self, agency: str, fit: bool) -> None:
        """An agency's release (with ``fit``, of an agency the model lets release, if any), once some agency has
        decided: before, a release is refused or settles the agency without a decision, tried enough that way
        too."""
        if fit and (free := [a for a in self.declarations if self.releasable(a)]):
            agency = agency if agency in free else free[0]
        if agency not in self.declarations:
            return
        d = self.declarations[agency]
        answer = self.post(OFFICES[agency], f"/declarations/{d.id}/release")
        if d.status not in ("accepted", "inspecting"):
            self.refused(answer, "not_releasable")
        elif self.blocking(agency):
            self.refused(answer, "inspection_open")
        elif d.wanted and not d.matched:
            self.refused(answer, "decision_pending")
        else:
            assert self.releasable(agency)
            assert ok(answer)["status"] == "released"
            d.status = "released"
            self.combined_release()
            self.match_due(window_closed=False)  # a release settles the agency: decisions waiting for it match

    @step(1, lambda life: any(d.released for d in life.declarations.values()), agency=st.sampled_from(AGENCIES))
    def hold(self, agency: str) -> None:
        if agency not in self.declarations:
            return
        d = self.declarations[agency]
        answer = self.post(OFFICES[agency], f"/declarations/{d.id}/revoke-release", {"reason": "lab sample"})
        if d.status != "released":
            self.refused(answer, "not_released")
        elif any(self.containers[n].gated_out for n in d.containers):  # its goods have left
            self.refused(answer, "gated_out")
        else:
            assert ok(answer)["status"] == "accepted"
            d.status = "accepted"
            self.combined_release()

    def combined_release(self) -> None:
        """Each container at the port is released when every covering agency has released (one no declaration
        covers keeps its state)."""
        for number, container in self.containers.items():
            if container.gated_out or not self.covering(number):
                continue
            released = not self.pending(number)
            if released != container.released:
                container.events["container.released" if released else "container.release_revoked"] += 1
                container.released = released

    @step(2, lambda life: any(d.released for d in life.declarations.values()), c=st.integers(0, 2))
    def gate_out(self, c: int) -> None:
        number = self.numbers[c % len(self.numbers)]
        container = self.containers[number]
        answer = self.post(TERMINAL, f"/containers/{number}/gate-out")
        if container.gated_out:
            self.refused(answer, "already_gated_out")
        elif not container.released:
            self.refused(answer, "not_released")
            assert answer.json()["error"]["details"] == [{"pending": self.pending(number)}]
        else:
            ok(answer)
            container.gated_out = True

    # --- what every party sees ---------------------------------------------------------------------------

    @invariant()
    def containers_as_the_terminal_sees_them(self) -> None:
        if not hasattr(self, "containers"):
            return
        for number, container in self.containers.items():
            answer = self.get(TERMINAL, f"/containers/{number}/release")
            if container.gated_out:
                assert answer.status_code == 404, answer.text
                continue
            status = ok(answer)
            assert (status["released"], status["pending"]) == (container.released, self.pending(number)), (
                status, container)

    @invariant()
    def the_feeds_tell_each_change_once(self) -> None:
        if not hasattr(self, "containers"):
            return
        for party in (ENT, TERMINAL):
            while True:
                after = f"&after={self.cursors[party]}" if self.cursors[party] else ""
                page = ok(self.get(party, f"/events?limit=1000{after}"))
                for event in page["events"]:
                    if event["data"].get("container") in self.containers:
                        self.seen[party][(event["data"]["container"], event["type"])] += 1
                    if party == ENT:
                        assert not any(reason in str(event) for reason in self.reasons), event
                self.cursors[party] = page["next"]
                if len(page["events"]) < 1000:  # the last page (the steps run one at a time: all committed)
                    break
            for number, container in self.containers.items():
                for kind in ("container.released", "container.release_revoked"):
                    assert self.seen[party][(number, kind)] == container.events[kind], (party, number, kind)


EXPLORE = int(os.environ.get("ONEWINDOW_MODEL_EXAMPLES", "0"))
"""The suite runs the same 30 lives every time (derandomised: a run passes or fails the same way on every
machine); ``ONEWINDOW_MODEL_EXAMPLES=500`` explores that many new random ones (minutes)."""


def test_a_consignment_s_life_follows_the_rules_in_any_order(client, world, run, clock):
    run_state_machine_as_test(
        lambda: ConsignmentLife(client, world, run, clock),
        settings=settings(max_examples=EXPLORE or 30, stateful_step_count=40 if not EXPLORE else 60,
                          derandomize=not EXPLORE, deadline=None,
                          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]))
