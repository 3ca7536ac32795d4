"""Two consignments in one container, over HTTP, held to a model of the match and the combined release, on
random sequences of steps.

Two enterprises' consignments (拼箱) share container X; each has one container of its own. Their
declarations (customs for both; CIQ for the first and sometimes the second) are accepted, decided on,
released, held and amended to cover fewer or more containers; their inspections are relocated, booked,
attended and concluded; time passes; the terminal gates containers out; all in any order. The model says
after each step what the platform must have answered and what each party must then see:

- when decisions are matched: all the decisions connected through the containers their declarations cover
  (whichever consignment), once every declaration covering one of those containers has decided or released,
  or the match window has passed for each container still waiting;
- which inspections a match makes: a container whose inspection has started gets a late single inspection
  per decision wanting it; one held by an inspection not yet started joins it; the others are shared by the
  agencies wanting them, one inspection per set of agencies and decisions linking the containers (two
  consignments' containers share one only through a decision wanting both, or a container both want);
- which inspections each enterprise sees (those serving its declarations), never a confidential reason;
- each declaration's release: refused while its decision waits or an inspection it takes part in is open;
- the combined release of each container at the port: released once every agency with a declaration
  covering it, in either consignment, has released all of them (one no declaration covers keeps its state);
  the agencies still pending;
- the ``container.released`` and ``container.release_revoked`` events: one per change, to the terminal and to
  each enterprise and office whose declaration covers the container at that moment (and to no other);
- a container that has left is gone: a later acceptance, release or hold changes nothing of it, and it cannot
  be inspected or added to a declaration again.
"""

from __future__ import annotations

import itertools
import os
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from hypothesis import HealthCheck, settings, strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule, run_state_machine_as_test

from onewindow.inspections import attendance, service
from onewindow.samples import sample_entry
from tests.flows import API, ENT, OFFICES, OTHER, TERMINAL, discharge, file_entry, ok
from tests.steps import Steps

SEEDS = itertools.count(9000)
"""Each example's containers are new to the database (the examples share one)."""
KEYS = ("A.customs", "A.ciq", "B.customs", "B.ciq")
"""The declarations: consignment A's (enterprise ENT) and B's (enterprise OTHER), by agency."""
WINDOW = timedelta(seconds=7200)
GRACE = timedelta(seconds=1800)
STARTED = ("in_progress", "completed")
KINDS = ("physical", "machine_scan", "sampling", "quarantine_treatment")
step = Steps()
"""The steps of the two consignments' lives (``tests.steps``)."""
FIT = st.sampled_from([True, True, True, False])
"""Whether a step picks what it can act on (a declaration it may decide, an inspection it may book...), else
tries its drawn one, however refused: mostly the first, so lives go far."""


@dataclass
class Declaration:
    key: str  # one of KEYS
    id: str
    enterprise: str
    agency: str
    status: str  # submitted, accepted, inspecting (an inspection of its decision made) or released
    containers: set[str]  # those it covers (an amendment may change them)
    entry_containers: list[dict] = field(default_factory=list)  # its consignment's, for amendments
    wanted: frozenset[str] | None = None  # its decision: None before, empty for no inspection
    decided_at: datetime | None = None
    matched: bool = False


@dataclass
class Inspection:
    containers: set[str]
    agencies: set[str]
    serves: set[str]  # the declarations (keys) whose decisions it carries out
    late: bool
    status: str = "awaiting_relocation"
    appointment: datetime | None = None
    task_open: bool = True


class SharedContainer(RuleBasedStateMachine):
    def __init__(self, client, world, run, clock) -> None:
        super().__init__()
        self.client, self.world, self.run, self.clock = client, world, run, clock
        self.cursors: dict[str, str | None] = dict.fromkeys((ENT, OTHER, TERMINAL, *OFFICES.values()))
        self.seen: dict[str, Counter] = {party: Counter() for party in self.cursors}
        self.told: dict[str, Counter] = {party: Counter() for party in self.cursors}
        self.inspections: dict[str, Inspection] = {}
        self.reasons: set[str] = set()

    @initialize(b_plain=st.booleans(), submitted=st.sets(st.sampled_from(KEYS)), order=st.permutations(range(3)))
    def file(self, b_plain: bool, submitted: set[str], order: list[int]) -> None:
        """Both consignments discharged, filed and submitted; the declarations not in ``submitted`` accepted;
        B's goods need no CIQ declaration when ``b_plain`` (the simplest draws are the fullest lives). The
        containers' numbers are new to each example, but the order they sort in is drawn (``order``: the
        shared one's place, then A's own, then B's own): what depends on it is the same when Hypothesis
        replays an example."""
        accepted = set(KEYS) - submitted
        a = sample_entry(seed=next(SEEDS), containers=2, inspected=True, consignee_uscc=ENT)
        b = sample_entry(seed=next(SEEDS), containers=2, inspected=not b_plain, consignee_uscc=OTHER)
        numbers = sorted(c["number"] for c in (*a["containers"], b["containers"][1]))
        b["containers"][0] = a["containers"][0]
        for container, place in zip((a["containers"][0], a["containers"][1], b["containers"][1]), order, strict=True):
            container["number"] = numbers[place]
        self.declarations: dict[str, Declaration] = {}
        self.filings: dict[str, str] = {}
        for name, entry, enterprise in (("A", a, ENT), ("B", b, OTHER)):
            agencies = tuple(k.split(".")[1] for k in accepted if k.startswith(name))
            self.filings[name], ids, numbers = file_entry(self.client, self.world, entry, enterprise=enterprise,
                                                          arrive=False, accept=agencies)
            discharge(self.client, self.world, numbers if name == "A" else numbers[1:])
            for agency, declaration_id in ids.items():
                self.declarations[f"{name}.{agency}"] = Declaration(
                    f"{name}.{agency}", declaration_id, enterprise, agency,
                    "accepted" if agency in agencies else "submitted", set(numbers), entry["containers"])
        self.numbers = [a["containers"][0]["number"], a["containers"][1]["number"], b["containers"][1]["number"]]
        self.released = dict.fromkeys(self.numbers, False)
        self.gated_out: set[str] = set()

    @rule(data=st.data())
    def next_step(self, data) -> None:
        """One step, drawn by weight among those the model's state allows, with its parameters."""
        step.draw(self, data)

    # --- helpers -----------------------------------------------------------------------------------------

    def post(self, key: str, action: str, body: dict | None = None):
        d = self.declarations[key]
        return self.client.post(f"{API}/declarations/{d.id}/{action}", json=body,
                                headers=self.world.headers(OFFICES[d.agency]))

    def choose(self, key: str, fit: bool, can) -> str:
        """``key``, or with ``fit`` a declaration ``can`` accepts if ``key``'s cannot and one can: a step that
        goes ahead comes more often than one refused."""
        if fit and (fitting := [k for k, d in self.declarations.items() if can(d)]) and key not in fitting:
            return fitting[0]
        return key

    def pick(self, i: int, fit: bool, can) -> tuple[str, Inspection] | None:
        """The ``i``-th inspection (modulo their number), among those ``can`` accepts when ``fit`` and any
        does; None while there is none."""
        keys = list(self.inspections)  # in the order the model learnt them: the same on every run of an example
        if fit and (fitting := [k for k in keys if can(self.inspections[k])]):
            keys = fitting
        return (keys[i % len(keys)], self.inspections[keys[i % len(keys)]]) if keys else None

    def refused(self, answer, code: str) -> None:
        assert answer.status_code == 409, answer.text
        assert answer.json()["error"]["code"] == code, answer.text

    def covering(self, number: str) -> list[Declaration]:
        return [d for d in self.declarations.values() if d.status != "submitted" and number in d.containers]

    def pending(self, number: str) -> list[str]:
        return sorted({d.agency for d in self.covering(number) if d.status != "released"})

    def started(self) -> set[str]:
        return {n for i in self.inspections.values() if i.status in STARTED for n in i.containers}

    def combined_release(self) -> None:
        """Each container at the port that a declaration covers is released when no covering agency is pending;
        each change is told to the terminal and to the enterprises and offices covering the container now."""
        for number in self.numbers:
            covering = self.covering(number)
            if number in self.gated_out or not covering:
                continue
            released = not self.pending(number)
            if released != self.released[number]:
                self.released[number] = released
                kind = "container.released" if released else "container.release_revoked"
                for party in {TERMINAL, *(d.enterprise for d in covering), *(OFFICES[d.agency] for d in covering)}:
                    self.told[party][(number, kind)] += 1

    # --- the match ---------------------------------------------------------------------------------------

    def due(self) -> set[str]:
        """The waiting decisions (declaration keys) a match takes now: those of each group (decisions connected
        through the containers their declarations cover, but for containers whose inspection has started) whose
        every container at the port is ready: each declaration covering it has decided or released, or the
        window has passed since the group's earliest decision covering it."""
        waiting = {k for k, d in self.declarations.items() if d.wanted is not None and not d.matched}
        started, groups = self.started(), []
        for key in sorted(waiting):
            linked = [g for g in groups if any((self.declarations[key].containers & self.declarations[k].containers)
                                               - started for k in g)]
            groups = [g for g in groups if g not in linked] + [{key}.union(*linked)]
        due = set()
        for group in groups:
            numbers = {n for k in group for n in self.declarations[k].containers} - started - self.gated_out
            if all(all(d.wanted is not None or d.status == "released" for d in self.covering(n))
                   or min(self.declarations[k].decided_at for k in group if n in self.declarations[k].containers)
                   + WINDOW <= self.clock.now() for n in numbers):
                due |= group
        return due

    def match_due(self) -> set[str]:
        """Hold what the platform made of the decisions the model says a match takes now to the rules, and learn
        it. Returns those decisions."""
        due = self.due()
        found = self.listed()
        new = {i: found[i] for i in found if i not in self.inspections}
        started = self.started()
        held = {n: k for k, i in self.inspections.items() if i.status not in STARTED for n in i.containers}
        late, fresh, joining = [], {}, {}  # fresh: container → the decisions wanting it, with no inspection yet
        for key in sorted(due):
            wanted = self.declarations[key].wanted
            if wanted & started:
                late.append((frozenset(wanted & started), (self.declarations[key].agency,), True, key))
            for n in wanted - started:
                if n in held:
                    joining.setdefault(held[n], set()).add(key)
                else:
                    fresh.setdefault(n, set()).add(key)
        expected = [(containers, agencies, True) for containers, agencies, _, _ in late]
        sharing = self.shared(fresh)
        expected += [(frozenset(ns), tuple(sorted({self.declarations[k].agency for k in fresh[min(ns)]})), False)
                     for ns in sharing]
        made = [(frozenset(i["containers"]), tuple(i["agencies"]), i["late"]) for i in new.values()]
        order = lambda e: (sorted(e[0]), e[1], e[2])  # noqa: E731
        assert sorted(made, key=order) == sorted(expected, key=order), (made, expected)
        place = {n: i for i, n in enumerate(self.numbers)}  # the same on every run of an example (not the numbers)
        in_order = sorted(new.items(), key=lambda kv: (sorted(place[n] for n in kv[1]["containers"]),
                                                      kv[1]["agencies"], kv[1]["late"], kv[1]["seen_by"]))
        for inspection_id, i in in_order:
            containers = set(i["containers"])
            serves = ({k for c, a, _, k in late if c == containers and list(a) == i["agencies"]
                       and k[0] in i["seen_by"]} if i["late"] else {k for n in containers for k in fresh[n]})
            self.inspections[inspection_id] = Inspection(containers, set(i["agencies"]), serves, i["late"])
        for inspection_id, keys in joining.items():
            self.inspections[inspection_id].agencies |= {self.declarations[k].agency for k in keys}
            self.inspections[inspection_id].serves |= keys
        for key in due:
            d = self.declarations[key]
            d.matched = True
            if d.wanted and d.status == "accepted":
                d.status = "inspecting"
        return due

    def shared(self, fresh: dict[str, set[str]]) -> list[set[str]]:
        """The new inspections of the containers ``fresh`` (container → the decisions wanting it): containers
        wanted by the same agencies share one when a decision wants both, and so on transitively."""
        agencies = {n: frozenset(self.declarations[k].agency for k in keys) for n, keys in fresh.items()}
        parts: list[set[str]] = []
        for n in sorted(fresh):
            linked = [p for p in parts if any(agencies[m] == agencies[n] and fresh[m] & fresh[n] for m in p)]
            parts = [p for p in parts if p not in linked] + [{n}.union(*linked)]
        return parts

    def listed(self) -> dict[str, dict]:
        """The inspections the enterprises see, each from the filings of its consignments (by id), with the
        consignments (``seen_by``) that see it."""
        found = {}
        for name, enterprise in (("A", ENT), ("B", OTHER)):
            answer = self.client.get(f"{API}/inspections?filing={self.filings[name]}",
                                     headers=self.world.headers(enterprise))
            for i in ok(answer):
                assert all(part["reasons"] is None for part in i["results"]), i  # never to an enterprise
                found.setdefault(i["id"], {**i, "seen_by": ""})["seen_by"] += name
        return found

    # --- declarations ------------------------------------------------------------------------------------

    @step(1, lambda m: any(d.status == "submitted" for d in m.declarations.values()), key=st.sampled_from(KEYS),
          fit=FIT)
    def accept(self, key: str, fit: bool) -> None:
        key = self.choose(key, fit, lambda d: d.status == "submitted")
        if key not in self.declarations:
            return
        d = self.declarations[key]
        answer = self.post(key, "accept")
        if d.status != "submitted":
            self.refused(answer, "not_submitted")
            return
        assert ok(answer)["status"] == "accepted"
        d.status = "accepted"
        self.combined_release()

    @step(3, lambda m: any(d.status == "accepted" and d.wanted is None for d in m.declarations.values()),
          key=st.sampled_from(KEYS), inspect=st.sampled_from([True, True, False]),
          which=st.sets(st.integers(0, 1), min_size=1), kind=st.sampled_from(KINDS), fit=FIT)
    def decide(self, key: str, inspect: bool, which: set[int], kind: str, fit: bool) -> None:
        """The office decides on a declaration: to inspect some of its consignment's containers, or not."""
        key = self.choose(key, fit, lambda d: d.status == "accepted" and d.wanted is None)
        if key not in self.declarations:
            return
        d = self.declarations[key]
        wanted = sorted({d.entry_containers[i]["number"] for i in which}) if inspect else []
        reason = f"confidential {key} {len(self.reasons)}"
        answer = self.post(key, "decision", {"inspect": True, "containers": wanted, "kind": kind, "reason": reason}
                           if inspect else {"inspect": False})
        if d.status != "accepted":
            self.refused(answer, "not_accepted")
        elif d.wanted is not None:
            self.refused(answer, "already_decided")
        elif not set(wanted) <= d.containers:  # amended away
            assert answer.status_code == 422, answer.text
            assert {tuple(e["loc"][:1]) for e in answer.json()["error"]["details"]} == {("containers",)}
        elif set(wanted) & self.gated_out:
            self.refused(answer, "gated_out")
        else:
            decision = ok(answer, 201)
            self.reasons.add(reason)
            d.wanted, d.decided_at = frozenset(wanted), self.clock.now()
            matched = key in self.match_due()
            assert decision["status"] == ("pending" if not matched else "matched" if wanted else "cleared")

    def releasable(self, d: Declaration) -> bool:
        return d.status in ("accepted", "inspecting") and not self.blocking(d) and not (d.wanted and not d.matched)

    def blocking(self, d: Declaration) -> bool:
        """Whether an inspection carrying out the declaration's decision, with its agency, is open."""
        return any(d.key in i.serves and d.agency in i.agencies and i.status != "completed"
                   for i in self.inspections.values())

    @step(3, lambda m: any(d.status in ("accepted", "inspecting") for d in m.declarations.values()),
          key=st.sampled_from(KEYS), fit=FIT)
    def release(self, key: str, fit: bool) -> None:
        key = self.choose(key, fit, self.releasable)
        if key not in self.declarations:
            return
        d = self.declarations[key]
        answer = self.post(key, "release")
        if d.status not in ("accepted", "inspecting"):
            self.refused(answer, "not_releasable")
        elif self.blocking(d):
            self.refused(answer, "inspection_open")
        elif d.wanted and not d.matched:
            self.refused(answer, "decision_pending")
        else:
            assert ok(answer)["status"] == "released"
            d.status = "released"
            self.combined_release()
            self.match_due()  # released without a decision: decisions that waited for it are matched

    @step(1, lambda m: any(d.status == "released" for d in m.declarations.values()), key=st.sampled_from(KEYS),
          fit=FIT)
    def hold(self, key: str, fit: bool) -> None:
        key = self.choose(key, fit, lambda d: d.status == "released")
        if key not in self.declarations:
            return
        d = self.declarations[key]
        answer = self.post(key, "revoke-release", {"reason": f"lab re-test {key}"})
        if d.status != "released":
            self.refused(answer, "not_released")
        elif d.containers & self.gated_out:
            self.refused(answer, "gated_out")
        else:
            assert ok(answer)["status"] == "accepted"
            d.status = "accepted"
            self.combined_release()

    @step(1, key=st.sampled_from(KEYS), keep=st.sets(st.integers(0, 1), min_size=1))
    def amend_containers(self, key: str, keep: set[int]) -> None:
        """An agency amends its declaration to cover only some of its consignment's two containers (the others
        short-shipped), or both again."""
        if key not in self.declarations:
            return
        d = self.declarations[key]
        kept = {d.entry_containers[i]["number"] for i in keep}
        answer = self.post(key, "amendments", {
            "changes": {"containers": [c for c in d.entry_containers if c["number"] in kept]},
            "reason": "short-shipped"})
        if d.status not in ("submitted", "accepted"):
            self.refused(answer, "not_amendable")
        elif kept == d.containers:
            self.refused(answer, "no_change")
        elif d.wanted and not d.matched and d.wanted - kept:
            self.refused(answer, "named_for_inspection")
        elif (kept - d.containers) & self.gated_out:
            self.refused(answer, "gated_out")
        else:
            ok(answer, 201)
            d.containers = kept
            self.combined_release()
            self.match_due()  # decisions that waited for it on a container it no longer covers may go ahead

    @step(2, hours=st.sampled_from([0.5, 1, 2.5]))
    def time_passes(self, hours: float) -> None:
        """Time goes by; the deadline scheduler closes the match windows and the check-in grace that passed."""
        self.clock.advance(seconds=int(hours * 3600))
        self.run(service.run_due)
        self.run(attendance.run_due)
        for inspection in self.inspections.values():
            if inspection.status == "scheduled" and inspection.appointment + GRACE <= self.clock.now():
                inspection.status, inspection.appointment = "ready", None  # nobody came: the booking lapses
        self.match_due()

    # --- the inspections ---------------------------------------------------------------------------------

    @step(4, lambda m: any(i.task_open for i in m.inspections.values()), i=st.integers(0, 5), fit=FIT)
    def relocate(self, i: int, fit: bool) -> None:
        """The terminal moves an inspection's containers and completes its task."""
        if (picked := self.pick(i, fit, lambda x: x.task_open)) is None:
            return
        key, inspection = picked
        tasks = [t for t in ok(self.client.get(f"{API}/terminal/tasks", headers=self.world.headers(TERMINAL)))
                 if t["inspection_id"] == key and t["status"] == "open"]
        assert len(tasks) == inspection.task_open, (tasks, inspection)
        if tasks:
            ok(self.client.post(f"{API}/terminal/tasks/{tasks[0]['id']}/complete", json={"location": "B3"},
                                headers=self.world.headers(TERMINAL)))
            inspection.task_open = False
            if inspection.status == "awaiting_relocation":
                inspection.status = "ready"

    @step(4, lambda m: any(i.status == "ready" for i in m.inspections.values()), i=st.integers(0, 5),
          fit=FIT)
    def book(self, i: int, fit: bool) -> None:
        """An enterprise whose consignment the inspection serves books it for now."""
        if (picked := self.pick(i, fit, lambda x: x.status == "ready")) is None:
            return
        key, inspection = picked
        enterprise = ENT if any(k.startswith("A.") for k in inspection.serves) else OTHER
        at = self.clock.now()
        answer = self.client.post(f"{API}/inspections/{key}/appointment", json={"at": at.isoformat()},
                                  headers=self.world.headers(enterprise))
        if inspection.status not in ("ready", "scheduled"):
            self.refused(answer, "not_ready")
            return
        assert ok(answer)["status"] == "scheduled"
        inspection.status, inspection.appointment = "scheduled", at

    @step(4, lambda m: any(i.status == "scheduled" for i in m.inspections.values()), i=st.integers(0, 5),
          fit=FIT)
    def attend(self, i: int, fit: bool) -> None:
        """Every agency of a booked inspection checks in: it is under way (started)."""
        self.by_every_agency(i, fit, "check-in", None, "scheduled", "in_progress",
                             lambda status: "already_checked_in" if status == "in_progress" else "not_scheduled")

    @step(4, lambda m: any(i.status == "in_progress" for i in m.inspections.values()), i=st.integers(0, 5),
          fit=FIT)
    def conclude(self, i: int, fit: bool) -> None:
        """Every agency of an inspection under way records a conforming result: it is completed."""
        self.by_every_agency(i, fit, "results", {"outcome": "conforming"}, "in_progress", "completed",
                             lambda status: "result_recorded" if status == "completed" else "not_checked_in")

    def by_every_agency(self, i: int, fit: bool, action: str, body: dict | None, before: str, after: str,
                        refusal) -> None:
        """Every agency of an inspection (with ``fit``, of one that is ``before``) posts ``action``: an
        inspection that was ``before`` is then ``after``; for any other, the first agency is refused with 409
        ``refusal(its status)``."""
        if (picked := self.pick(i, fit, lambda x: x.status == before)) is None:
            return
        key, inspection = picked
        for agency in sorted(inspection.agencies):
            answer = self.client.post(f"{API}/inspections/{key}/{action}", json=body,
                                      headers=self.world.headers(OFFICES[agency]))
            if inspection.status != before:
                self.refused(answer, refusal(inspection.status))
                return
            ok(answer)
        inspection.status = after

    # --- the terminal ------------------------------------------------------------------------------------

    @step(2, lambda m: any(m.released.values()), c=st.integers(0, 2), fit=FIT)
    def gate_out(self, c: int, fit: bool) -> None:
        number = self.numbers[c]
        if fit and (free := [n for n in self.numbers if self.released[n] and n not in self.gated_out]):
            number = number if number in free else free[0]
        answer = self.client.post(f"{API}/containers/{number}/gate-out", headers=self.world.headers(TERMINAL))
        if number in self.gated_out:
            self.refused(answer, "already_gated_out")
        elif not self.released[number]:
            self.refused(answer, "not_released")
            assert answer.json()["error"]["details"] == [{"pending": self.pending(number)}]
        else:
            ok(answer)
            self.gated_out.add(number)

    # --- what every party sees ---------------------------------------------------------------------------

    @invariant()
    def inspections_as_the_enterprises_see_them(self) -> None:
        if not hasattr(self, "numbers"):
            return
        for name, enterprise in (("A", ENT), ("B", OTHER)):
            answer = self.client.get(f"{API}/inspections?filing={self.filings[name]}",
                                     headers=self.world.headers(enterprise))
            seen = {i["id"]: i for i in ok(answer)}
            assert set(seen) == {k for k, i in self.inspections.items()
                                 if any(s.startswith(f"{name}.") for s in i.serves)}, (name, seen, self.inspections)
            for key, found in seen.items():
                model = self.inspections[key]
                assert (set(found["containers"]), set(found["agencies"]), found["joint"], found["late"],
                        found["status"]) == (model.containers, model.agencies, len(model.agencies) > 1, model.late,
                                             model.status), (found, model)

    @invariant()
    def containers_as_the_terminal_sees_them(self) -> None:
        if not hasattr(self, "numbers"):
            return
        for number in self.numbers:
            answer = self.client.get(f"{API}/containers/{number}/release", headers=self.world.headers(TERMINAL))
            if number in self.gated_out:
                assert answer.status_code == 404, answer.text
                continue
            status = ok(answer)
            assert (status["released"], status["pending"]) == (self.released[number], self.pending(number)), (
                number, status)

    @invariant()
    def each_party_is_told_each_change_once(self) -> None:
        if not hasattr(self, "numbers"):
            return
        for party in self.cursors:
            while True:
                after = f"&after={self.cursors[party]}" if self.cursors[party] else ""
                page = ok(self.client.get(f"{API}/events?limit=1000{after}", headers=self.world.headers(party)))
                for event in page["events"]:
                    if event["data"].get("container") in self.released and event["type"].startswith("container.r"):
                        self.seen[party][(event["data"]["container"], event["type"])] += 1
                    if party in (ENT, OTHER):
                        assert not any(reason in str(event) for reason in self.reasons), event
                self.cursors[party] = page["next"]
                if len(page["events"]) < 1000:  # the last page (the steps run one at a time: all committed)
                    break
            assert self.seen[party] == self.told[party], party


EXPLORE = int(os.environ.get("ONEWINDOW_MODEL_EXAMPLES", "0"))
"""As in the consignment's model: the same 20 lives each run; ``ONEWINDOW_MODEL_EXAMPLES=N`` explores N new
random ones."""


def test_two_consignments_in_one_container_follow_the_rules_in_any_order(client, world, run, clock):
    run_state_machine_as_test(
        lambda: SharedContainer(client, world, run, clock),
        settings=settings(max_examples=EXPLORE or 20, stateful_step_count=40 if not EXPLORE else 60,
                          derandomize=not EXPLORE, deadline=None,
                          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]))
