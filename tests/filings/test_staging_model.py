"""A filing's staging over HTTP held to a model of the contract's rules, on random sequences of steps.

The enterprise edits its filing (a field both declarations carry, one only the customs declaration carries,
and the goods, which need a CIQ declaration or not), with and without ``If-Match``; it files some or all of
its staged declarations, with and without an ``Idempotency-Key``, and retries; the offices accept or
reject (退单) what is filed, and the enterprise corrects a rejected declaration and files it again; in any
order. The model says after each step what the platform must have answered and what each party must see:

- each answer and its code: 409 ``filed``, ``version_conflict``, ``field_filed``, ``nothing_staged``,
  ``already_filed``, ``not_submitted``; 422 naming an agency the filing has no declaration for, or the key
  reused for another request;
- a retry with the same key and request gets the first answer again and changes nothing;
- the filing: ``draft`` while a declaration is staged (draft or rejected), else ``filed``; its version, one
  more per change, each version kept; its declarations, each with its status and version: a draft discarded
  when the goods no longer need it, a rejected one withdrawn (its office keeps it), a new draft when the
  goods need one again, a rejected one filed again as its next version;
- each office's queue: the filing's submitted declarations routed to it, and only those;
- what an office sees of a declaration: never a draft; the data as filed or amended, however the filing
  was edited or another declaration amended since; a notice of each amendment of another declaration of the
  filing that changed a field it carries, made while it was filed.
"""

from __future__ import annotations

import itertools
import os
from dataclasses import dataclass, field

from hypothesis import HealthCheck, settings, strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule, run_state_machine_as_test

from onewindow.samples import sample_entry
from tests.flows import API, ENT, OFFICES, ok
from tests.steps import Steps

SEEDS = itertools.count(12000)
"""Each example's filing is new (the examples share one database)."""
AGENCIES = ("customs", "ciq")
STAGED = ("draft", "rejected")
VALUES = {"remarks": ("urgent", "fragile", None), "transaction_mode": ("3", "7", "1"),
          "items": ("plain", "catalogued", "plain")}
"""The values each edited field takes (``None`` removes it; the first differs from the sample's); the goods
either need inspection or not."""
OWNERS = {"remarks": {"customs", "ciq"}, "transaction_mode": {"customs"}, "items": {"customs", "ciq"}}
"""The declarations that carry each edited field (the entry's split)."""
PLAIN_LINE = {"hs_code": "7318159001", "name": "螺栓 Steel bolts", "unit": "035", "origin_country": "KOR"}
"""A goods line no inspection catalogue entry names, in place of the fish of the sample."""
FIT = st.sampled_from([True, True, False])
step = Steps()


@dataclass
class Declaration:
    id: str
    agency: str
    status: str = "draft"  # draft, submitted, accepted, rejected or withdrawn
    version: int = 1
    data: dict = field(default_factory=dict)  # the edited fields as its office sees them once filed
    notices: list = field(default_factory=list)  # (the amended declaration, its version, the fields changed)


class Staging(RuleBasedStateMachine):
    def __init__(self, client, world) -> None:
        super().__init__()
        self.client, self.world = client, world

    @initialize()
    def file(self) -> None:
        entry = sample_entry(seed=next(SEEDS), containers=1, inspected=True)
        self.lines = {"catalogued": entry["items"], "plain": [{**entry["items"][0], **PLAIN_LINE},
                                                             *entry["items"][1:]]}
        filing = ok(self.client.post(f"{API}/filings", json=entry, headers=self.world.headers(ENT)), 201)
        self.id, self.version = filing["id"], 1
        self.data = {"remarks": None, "transaction_mode": entry["transaction_mode"], "items": "catalogued"}
        self.declarations = {d["agency"]: Declaration(d["id"], d["agency"], data=self.part(d["agency"]))
                             for d in filing["declarations"]}
        assert set(self.declarations) == set(AGENCIES)
        self.withdrawn: list[Declaration] = []
        self.keys: dict[str, tuple[dict, dict | None]] = {}  # key → (request, the first answer kept)
        self.last_key: str | None = None

    @rule(data=st.data())
    def next_step(self, data) -> None:
        step.draw(self, data)

    # --- helpers -----------------------------------------------------------------------------------------

    def part(self, agency: str) -> dict:
        """The edited fields the agency's declaration carries, from the filing's data."""
        return {k: v for k, v in self.data.items() if agency in OWNERS[k]}

    def staged(self) -> list[Declaration]:
        return [d for d in self.declarations.values() if d.status in STAGED]

    def filed(self) -> set[str]:
        return {a for a, d in self.declarations.items() if d.status not in STAGED}

    def refused(self, answer, status: int, code: str) -> None:
        assert answer.status_code == status, answer.text
        assert answer.json()["error"]["code"] == code, answer.text

    # --- the enterprise ----------------------------------------------------------------------------------

    @step(1, lambda m: not m.staged(), name=st.sampled_from(sorted(VALUES)), value=st.integers(0, 2))
    def edit_once_filed(self, name: str, value: int) -> None:
        self.edit(name, value, stale=False)

    @step(5, lambda m: m.staged(), name=st.sampled_from(sorted(VALUES)), value=st.integers(0, 2),
          stale=st.sampled_from([False, False, False, True]))
    def edit(self, name: str, value: int, stale: bool) -> None:
        """A field edited (``stale``: with the version before as ``If-Match``)."""
        new = VALUES[name][value]
        body = {name: self.lines[new] if name == "items" else new}
        headers = {**self.world.headers(ENT), **({"If-Match": str(self.version - 1)} if stale else {})}
        answer = self.client.patch(f"{API}/filings/{self.id}", json=body, headers=headers)
        if not self.staged():
            self.refused(answer, 409, "filed")
        elif stale:
            self.refused(answer, 409, "version_conflict")
        elif self.data[name] == new:
            assert ok(answer)["version"] == self.version  # nothing changed: no new version
        elif OWNERS[name] & self.filed():
            self.refused(answer, 409, "field_filed")
        else:
            ok(answer)
            self.data[name] = new
            self.version += 1
            self.reconcile()

    def reconcile(self) -> None:
        """The staged declarations take the new data; the CIQ part comes and goes with the goods."""
        needs_ciq = self.data["items"] == "catalogued"
        ciq = self.declarations.get("ciq")
        if ciq and ciq.status in STAGED and not needs_ciq:
            del self.declarations["ciq"]
            if ciq.status == "rejected":
                ciq.status = "withdrawn"
                self.withdrawn.append(ciq)
        elif needs_ciq and not ciq:
            new = [d for d in ok(self.client.get(f"{API}/filings/{self.id}", headers=self.world.headers(ENT)))[
                "declarations"] if d["agency"] == "ciq" and d["status"] == "draft"]
            assert len(new) == 1, new
            self.declarations["ciq"] = Declaration(new[0]["id"], "ciq")
        for d in self.staged():
            d.data = self.part(d.agency)

    @step(3, lambda m: m.filed(), agency=st.sampled_from(AGENCIES), name=st.sampled_from(sorted(VALUES)),
          value=st.integers(0, 2), by_office=st.booleans())
    def amend(self, agency: str, name: str, value: int, by_office: bool) -> None:
        """The enterprise or the office amends a field of a declaration (filed, else refused)."""
        d = self.declarations.get(agency)
        if d is None:
            return
        new = VALUES[name][value]
        answer = self.client.post(f"{API}/declarations/{d.id}/amendments", json={
            "changes": {name: self.lines[new] if name == "items" else new}, "reason": "corrected"},
            headers=self.world.headers(OFFICES[agency] if by_office else ENT))
        if d.status == "draft" and by_office:
            assert answer.status_code == 404, answer.text  # not filed: the office does not see it
        elif d.status not in ("submitted", "accepted"):
            self.refused(answer, 409, "not_amendable")
        elif agency not in OWNERS[name]:
            assert answer.status_code == 422, answer.text
            assert [e["loc"] for e in answer.json()["error"]["details"]] == [["changes", name]]
        elif d.data.get(name) == new:
            self.refused(answer, 409, "no_change")
        else:
            ok(answer, 201)
            d.data[name], d.version = new, d.version + 1
            for other in self.declarations.values():  # every other filed one carrying the field is told
                if other is not d and other.status not in STAGED and other.agency in OWNERS[name]:
                    other.notices.append((d.id, d.version, [name]))
            self.data[name] = new  # the filing takes the change; its staged declarations follow it
            self.version += 1
            self.reconcile()

    @step(2, agencies=st.sampled_from([("customs",), ("ciq",), None, ("customs", "ciq")]),
          key=st.sampled_from([None, "new", "last"]))
    def submit(self, agencies: tuple[str, ...] | None, key: str | None) -> None:
        """Staged declarations filed: those of ``agencies`` (all staged ones when None), with a new key, the
        last key used (a retry, or that key reused for another request) or none."""
        request = {"agencies": list(agencies)} if agencies else None
        if key == "new" or key == "last" and self.last_key is None:
            key = self.last_key = f"{self.id}-{len(self.keys)}"
        elif key == "last":
            key = self.last_key
        headers = {**self.world.headers(ENT), **({"Idempotency-Key": key} if key else {})}
        answer = self.client.post(f"{API}/filings/{self.id}/submit", json=request, headers=headers)
        kept = self.keys.get(key) if key else None
        if kept and kept[1] is not None:
            if kept[0] == request:  # a retry: the first answer again, nothing done
                assert ok(answer) == kept[1]
            else:
                assert answer.status_code == 422, answer.text
                assert answer.json()["error"]["details"][0]["loc"] == ["headers", "Idempotency-Key"]
            return
        if key:
            self.keys[key] = (request, None)
        to_file = self.to_file(agencies, answer)
        if to_file is None:
            return
        first = ok(answer)
        for d in to_file:
            if d.status == "rejected":
                d.version += 1
            d.status = "submitted"
        if key:
            self.keys[key] = (request, first)

    def to_file(self, agencies: tuple[str, ...] | None, answer) -> list[Declaration] | None:
        """The declarations a submission files, or None when the answer is the refusal the model expects."""
        if agencies is None:
            if not self.staged():
                self.refused(answer, 409, "nothing_staged")
                return None
            return self.staged()
        if missing := [i for i, a in enumerate(agencies) if a not in self.declarations]:
            assert answer.status_code == 422, answer.text
            assert [e["loc"] for e in answer.json()["error"]["details"]] == [["agencies", i] for i in missing]
            return None
        if set(agencies) & self.filed():
            self.refused(answer, 409, "already_filed")
            return None
        return [self.declarations[a] for a in agencies]

    # --- the offices -------------------------------------------------------------------------------------

    @step(3, lambda m: any(d.status == "submitted" for d in m.declarations.values()),
          agency=st.sampled_from(AGENCIES), accept=st.sampled_from([True, True, False]), fit=FIT)
    def answer(self, agency: str, accept: bool, fit: bool) -> None:
        """The office accepts or rejects (退单) the declaration routed to it (with ``fit``, one submitted)."""
        waiting = [a for a, d in self.declarations.items() if d.status == "submitted"]
        if fit and waiting and agency not in waiting:
            agency = waiting[0]
        d = self.declarations.get(agency) or (self.withdrawn[-1] if agency == "ciq" and self.withdrawn else None)
        if d is None:
            return
        action, body = ("accept", None) if accept else ("reject", {"reason": "HS code does not match the goods"})
        answer = self.client.post(f"{API}/declarations/{d.id}/{action}", json=body,
                                  headers=self.world.headers(OFFICES[agency]))
        if d.status == "draft":
            assert answer.status_code == 404, answer.text  # not filed: the office does not see it
        elif d.status != "submitted":
            self.refused(answer, 409, "not_submitted")
        else:
            d.status = "accepted" if accept else "rejected"
            assert ok(answer)["status"] == d.status

    # --- what every party sees ---------------------------------------------------------------------------

    @invariant()
    def the_filing_as_the_enterprise_sees_it(self) -> None:
        filing = ok(self.client.get(f"{API}/filings/{self.id}", headers=self.world.headers(ENT)))
        assert (filing["status"], filing["version"]) == ("draft" if self.staged() else "filed", self.version)
        seen = {(d["id"], d["agency"], d["status"], d["version"]) for d in filing["declarations"]}
        assert seen == {(d.id, d.agency, d.status, d.version)
                        for d in [*self.declarations.values(), *self.withdrawn]}, seen
        versions = ok(self.client.get(f"{API}/filings/{self.id}/versions", headers=self.world.headers(ENT)))
        assert sorted(v["version"] for v in versions) == list(range(1, self.version + 1))

    @invariant()
    def what_the_offices_see(self) -> None:
        for agency, office in OFFICES.items():
            queue = ok(self.client.get(f"{API}/declarations?status=submitted&limit=500",
                                       headers=self.world.headers(office)))
            assert {d["id"] for d in queue if d["filing_id"] == self.id} == {
                d.id for d in self.declarations.values() if d.agency == agency and d.status == "submitted"}
            for d in [*self.declarations.values(), *self.withdrawn]:
                if d.agency != agency:
                    continue
                answer = self.client.get(f"{API}/declarations/{d.id}", headers=self.world.headers(office))
                if d.status == "draft":  # never filed
                    assert answer.status_code == 404, answer.text
                    continue
                seen = ok(answer)
                assert seen["status"] == d.status and seen["version"] == d.version, (seen, d)
                notices = [(n["source_declaration_id"], n["source_version"], n["changed_fields"])
                           for n in seen["notices"]]  # oldest first: one source's in its order
                assert sorted(notices, key=lambda n: n[0]) == sorted(d.notices, key=lambda n: n[0]), (notices, d)
                assert {k: seen["data"].get(k) for k in d.data if k != "items"} == {
                    k: v for k, v in d.data.items() if k != "items"}, (seen["data"], d)
                needs = any(line.get("ciq_category") for line in seen["data"]["items"]) if agency == "ciq" else None
                assert needs in (None, d.data["items"] == "catalogued"), (seen["data"]["items"], d)


EXPLORE = int(os.environ.get("ONEWINDOW_MODEL_EXAMPLES", "0"))
"""As in the other models: the same lives each run; ``ONEWINDOW_MODEL_EXAMPLES=N`` explores N new random
ones."""


def test_a_filing_s_staging_follows_the_rules_in_any_order(client, world):
    run_state_machine_as_test(
        lambda: Staging(client, world),
        settings=settings(max_examples=EXPLORE or 20, stateful_step_count=30 if not EXPLORE else 50,
                          derandomize=not EXPLORE, deadline=None,
                          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]))
