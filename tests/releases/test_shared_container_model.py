"""Two consignments in one container, over HTTP, held to a model of the combined release, on random sequences
of steps.

Two enterprises' consignments (拼箱) share container X; each has one container of its own. Their
declarations (customs for both, CIQ for the first and sometimes the second) are accepted, released, held
and amended to cover fewer or more containers, and the terminal gates containers out, in any order. The
model says after each step what the platform must have answered and what each party must then see:

- the combined release of each container at the port: released once every agency with a declaration
  covering it, in either consignment, has released all of them (one no declaration covers keeps its state);
  the agencies still pending;
- the ``container.released`` and ``container.release_revoked`` events: one per change, to the terminal and to
  each enterprise and office whose declaration covers the container at that moment (and to no other);
- a container that has left is gone: a later acceptance, release or hold changes nothing of it, and it cannot
  be added to a declaration again.
"""

from __future__ import annotations

import itertools
import os
from collections import Counter
from dataclasses import dataclass, field

from hypothesis import HealthCheck, settings, strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule, run_state_machine_as_test

from onewindow.samples import sample_entry
from tests.flows import API, ENT, OFFICES, OTHER, TERMINAL, discharge, file_entry, ok

SEEDS = itertools.count(9000)
"""Each example's containers are new to the database (the examples share one)."""
KEYS = ("A.customs", "A.ciq", "B.customs", "B.ciq")
"""The declarations: consignment A's (enterprise ENT) and B's (enterprise OTHER), by agency."""


@dataclass
class Declaration:
    id: str
    enterprise: str
    agency: str
    status: str  # submitted, accepted or released
    containers: set[str]  # those it covers (a customs amendment may change them)
    entry_containers: list[dict] = field(default_factory=list)  # its consignment's, for amendments


class SharedContainer(RuleBasedStateMachine):
    def __init__(self, client, world) -> None:
        super().__init__()
        self.client, self.world = client, world
        self.cursors: dict[str, str | None] = dict.fromkeys((ENT, OTHER, TERMINAL, *OFFICES.values()))
        self.seen: dict[str, Counter] = {party: Counter() for party in self.cursors}
        self.told: dict[str, Counter] = {party: Counter() for party in self.cursors}

    @initialize(b_ciq=st.booleans(), accepted=st.sets(st.sampled_from(KEYS)))
    def file(self, b_ciq: bool, accepted: set[str]) -> None:
        """Both consignments discharged, filed and submitted; the declarations in ``accepted`` accepted."""
        a = sample_entry(seed=next(SEEDS), containers=2, inspected=True, consignee_uscc=ENT)
        b = sample_entry(seed=next(SEEDS), containers=2, inspected=b_ciq, consignee_uscc=OTHER)
        b["containers"][0] = a["containers"][0]
        self.declarations: dict[str, Declaration] = {}
        for name, entry, enterprise in (("A", a, ENT), ("B", b, OTHER)):
            agencies = tuple(k.split(".")[1] for k in accepted if k.startswith(name))
            _, ids, numbers = file_entry(self.client, self.world, entry, enterprise=enterprise, arrive=False,
                                         accept=agencies)
            discharge(self.client, self.world, numbers if name == "A" else numbers[1:])
            for agency, declaration_id in ids.items():
                self.declarations[f"{name}.{agency}"] = Declaration(
                    declaration_id, enterprise, agency, "accepted" if agency in agencies else "submitted",
                    set(numbers), entry["containers"])
        self.numbers = [a["containers"][0]["number"], a["containers"][1]["number"], b["containers"][1]["number"]]
        self.released = dict.fromkeys(self.numbers, False)
        self.gated_out: set[str] = set()

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

    def refused(self, answer, code: str) -> None:
        assert answer.status_code == 409, answer.text
        assert answer.json()["error"]["code"] == code, answer.text

    def covering(self, number: str) -> list[Declaration]:
        return [d for d in self.declarations.values() if d.status != "submitted" and number in d.containers]

    def pending(self, number: str) -> list[str]:
        return sorted({d.agency for d in self.covering(number) if d.status != "released"})

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

    # --- steps -------------------------------------------------------------------------------------------

    def moves(self, key: str, fit: bool, action: str, before: str, after: str, refusal: str) -> None:
        """The office's ``action`` on declaration ``key`` (with ``fit``, on one that is ``before`` if any): a
        declaration ``before`` becomes ``after``; any other is refused with 409 ``refusal``."""
        key = self.choose(key, fit, lambda d: d.status == before)
        if key not in self.declarations:
            return
        d = self.declarations[key]
        answer = self.post(key, action)
        if d.status != before:
            self.refused(answer, refusal)
            return
        assert ok(answer)["status"] == after
        d.status = after
        self.combined_release()

    @rule(key=st.sampled_from(KEYS), fit=st.booleans())
    def accept(self, key: str, fit: bool) -> None:
        self.moves(key, fit, "accept", "submitted", "accepted", "not_submitted")

    @rule(key=st.sampled_from(KEYS), fit=st.booleans())
    def release(self, key: str, fit: bool) -> None:
        self.moves(key, fit, "release", "accepted", "released", "not_releasable")

    @rule(key=st.sampled_from(KEYS), fit=st.booleans())
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

    @rule(key=st.sampled_from(KEYS), keep=st.sets(st.integers(0, 1), min_size=1))
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
        if d.status == "released":
            self.refused(answer, "not_amendable")
        elif kept == d.containers:
            self.refused(answer, "no_change")
        elif (kept - d.containers) & self.gated_out:
            self.refused(answer, "gated_out")
        else:
            ok(answer, 201)
            d.containers = kept
            self.combined_release()

    @rule(c=st.integers(0, 2), fit=st.booleans())
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
                self.cursors[party] = page["next"]
                if not page["events"]:
                    break
            assert self.seen[party] == self.told[party], party


EXPLORE = int(os.environ.get("ONEWINDOW_MODEL_EXAMPLES", "0"))
"""As in the consignment's model: the same 20 lives each run; ``ONEWINDOW_MODEL_EXAMPLES=N`` explores N new
random ones."""


def test_two_consignments_in_one_container_follow_the_rules_in_any_order(client, world):
    run_state_machine_as_test(
        lambda: SharedContainer(client, world),
        settings=settings(max_examples=EXPLORE or 20, stateful_step_count=30 if not EXPLORE else 50,
                          derandomize=not EXPLORE, deadline=None,
                          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]))
