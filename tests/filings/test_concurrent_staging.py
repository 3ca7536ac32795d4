"""Two clerks of one enterprise and both offices working on the same filings at once (PostgreSQL, where requests
really overlap): the clerks edit (with and without ``If-Match``), file parts (sharing ``Idempotency-Key``s) and
amend; the offices accept, reject and amend. Whatever the interleaving, no request fails unexpectedly and no
change is lost: every version is kept, each answer's version holds what that request wrote, an edit made
against a version is the next one or refused, a key's request took effect once, receipt numbers are unique,
and the log has each filing's and declaration's events in the order of their versions.

``ONEWINDOW_CONCURRENT_ROUNDS`` sets how many rounds are played (2 by default), each with new filings;
``ONEWINDOW_CONCURRENT_FROM=K`` starts from the K-th seed (other rounds than the suite's)."""

from __future__ import annotations

import random
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from onewindow.samples import sample_entry
from tests.concurrency import all_at_once, out_of_version_order, require_postgresql, rounds
from tests.flows import API, ENT, OFFICES, ok

STEPS = 25
FILINGS = 2
REMARKS = ("urgent", "fragile", "keep cool", "handle with care")
EXPECTED = {
    200: None, 201: None,
    409: {"filed", "version_conflict", "field_filed", "nothing_staged", "already_filed", "not_submitted",
          "not_amendable", "no_change", "idempotency_in_progress"},
    422: {"validation_failed"},  # a key the other clerk used for another request (checked below)
}

DRAFT_UNSEEN = {("customs", "amend", 404), ("ciq", "amend", 404)}
"""An office amending a declaration still a draft: it does not see it."""


@dataclass
class Round:
    filings: list[str]
    declarations: dict[str, dict[str, str]]  # filing id → agency → its declaration's id, as first made
    answers: list[tuple[str, str, int, str]] = field(default_factory=list)
    edits: list[tuple[str, int | None, int, str]] = field(default_factory=list)  # filing, If-Match, version, value
    amendments: list[tuple[str, int, str]] = field(default_factory=list)  # declaration, version, remarks written
    keyed: dict[str, list[tuple[dict | None, int, dict]]] = field(default_factory=dict)
    """Idempotency-Key → (request, status, answer) of each submit sent with it."""
    lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, who: str, what: str, answer) -> dict | None:
        code = answer.json()["error"]["code"] if answer.status_code >= 400 else ""
        with self.lock:
            self.answers.append((who, what, answer.status_code, code))
        return answer.json() if answer.status_code < 300 else None


def _round(client, world, seed: int) -> Round:
    filings, declarations = [], {}
    for i in range(FILINGS):
        entry = sample_entry(seed=seed * 10 + i, containers=1, inspected=True)
        filing = ok(client.post(f"{API}/filings", json=entry, headers=world.headers(ENT)), 201)
        filings.append(filing["id"])
        declarations[filing["id"]] = {d["agency"]: d["id"] for d in filing["declarations"]}
    return Round(filings, declarations)


def _clerk(client, world, game: Round, name: str, rng: random.Random) -> Callable[[], None]:
    headers = world.headers(ENT)

    def step() -> None:
        filing_id = rng.choice(game.filings)
        action = rng.choices(["edit", "submit", "amend"], [5, 2, 2])[0]
        if action == "edit":
            seen = ok(client.get(f"{API}/filings/{filing_id}", headers=headers))
            value = rng.choice(REMARKS)
            match = seen["version"] if rng.random() < 0.7 else None
            answer = game.record(name, "edit", client.patch(
                f"{API}/filings/{filing_id}", json={"remarks": value},
                headers={**headers, **({"If-Match": str(match)} if match is not None else {})}))
            if answer is not None:
                with game.lock:
                    game.edits.append((filing_id, match, answer["version"], value))
        elif action == "submit":
            key = f"{filing_id}-{rng.randrange(3)}"  # the two clerks share keys: one's retry is the other's
            body = {"agencies": ["customs", "ciq"][: rng.randint(1, 2)]} if key.endswith("0") else None
            answer = client.post(f"{API}/filings/{filing_id}/submit", json=body,
                                 headers={**headers, "Idempotency-Key": key})
            game.record(name, "submit", answer)
            with game.lock:
                game.keyed.setdefault(key, []).append((body, answer.status_code, answer.json()))
        else:
            _amend(client, game, name, rng.choice(sorted(game.declarations[filing_id].values())), headers, rng)

    return step


def _amend(client, game: Round, who: str, declaration_id: str, headers: dict, rng: random.Random) -> None:
    value = rng.choice(REMARKS)
    answer = game.record(who, "amend", client.post(f"{API}/declarations/{declaration_id}/amendments",
                                                   json={"changes": {"remarks": value}, "reason": "corrected"},
                                                   headers=headers))
    if answer is not None:
        with game.lock:
            game.amendments.append((declaration_id, answer["version"], value))


def _office(client, world, game: Round, agency: str, rng: random.Random) -> Callable[[], None]:
    headers = world.headers(OFFICES[agency])

    def step() -> None:
        queue = [d["id"] for d in ok(client.get(f"{API}/declarations?status=submitted&limit=500", headers=headers))
                 if d["filing_id"] in game.filings]
        action = rng.choices(["accept", "reject", "amend"], [4, 1, 2])[0]
        if action == "amend":
            mine = [ids[agency] for ids in game.declarations.values()]
            _amend(client, game, agency, rng.choice(mine), headers, rng)  # 404 while a draft: not filed
        elif queue:
            declaration = rng.choice(queue)
            game.record(agency, action, client.post(f"{API}/declarations/{declaration}/{action}",
                                                    json={"reason": "bill of lading missing"}
                                                    if action == "reject" else None, headers=headers))

    return step


def test_clerks_and_offices_working_at_once_lose_no_change(client, world, run, db):
    require_postgresql(db)
    for seed, rng in rounds(9000):
        game = _round(client, world, seed)
        all_at_once([_clerk(client, world, game, "clerk 1", random.Random(rng.random())),
                     _clerk(client, world, game, "clerk 2", random.Random(rng.random())),
                     _office(client, world, game, "customs", random.Random(rng.random())),
                     _office(client, world, game, "ciq", random.Random(rng.random()))], STEPS)
        summary = Counter(a[1:] for a in game.answers)
        assert [a for a in game.answers if (a[2] not in EXPECTED or (
            EXPECTED[a[2]] is not None and a[3] not in EXPECTED[a[2]])) and a[:3] not in DRAFT_UNSEEN] == [], (
            seed, summary)

        headers = world.headers(ENT)
        for filing_id in game.filings:
            filing = ok(client.get(f"{API}/filings/{filing_id}", headers=headers))
            versions = {v["version"]: v["data"] for v in ok(client.get(f"{API}/filings/{filing_id}/versions",
                                                                       headers=headers))}
            assert sorted(versions) == list(range(1, filing["version"] + 1)), seed
            for edited, match, version, value in game.edits:
                if edited == filing_id:
                    assert versions[version].get("remarks") == value, (seed, version, value)
                    assert match is None or version in (match, match + 1), (seed, match, version)
            assert all(d["number"] for d in filing["declarations"] if d["status"] == "accepted"), seed

        for declaration_id in {d for ids in game.declarations.values() for d in ids.values()}:
            answer = client.get(f"{API}/declarations/{declaration_id}/versions", headers=headers)
            if answer.status_code == 404:  # a draft discarded
                continue
            versions = {v["version"]: v["data"] for v in ok(answer)}
            assert sorted(versions) == list(range(1, max(versions, default=0) + 1)), seed  # none while a draft
            for amended, version, value in game.amendments:
                if amended == declaration_id:
                    assert versions[version].get("remarks") == value, (seed, declaration_id, version, value)

        for key, answers in game.keyed.items():
            # a request refused left nothing under its key; the first that went ahead took effect once, and
            # every answer to it since (a retry, or the other clerk's same request) is that first answer
            done = [(request, body) for request, status, body in answers if status == 200]
            assert all(answer == done[0] for answer in done), (seed, key, answers)
        numbers = [n for filing_id in game.filings for d in ok(client.get(
            f"{API}/filings/{filing_id}", headers=headers))["declarations"] if (n := d["number"])]
        assert len(numbers) == len(set(numbers)), seed
        assert out_of_version_order(run, game.filings) == [], seed
