"""After the match over HTTP: arrivals, relocation tasks, appointments, check-in, absences, results."""

from __future__ import annotations

from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient

from onewindow.inspections import attendance
from onewindow.samples import sample_entry
from tests.flows import API, ENT, OTHER, accepted_filing, error, ok

SHANGHAI = ZoneInfo("Asia/Shanghai")


def matched(client, world, seed, customs=(0,), ciq=(0,)):
    """A filing whose decisions are matched: customs and CIQ inspect the containers at these positions.

    Returns (filing id, declaration ids, container numbers, inspections keyed by their containers).
    """
    filing_id, ids, numbers = accepted_filing(client, world, seed=seed)
    for agency, office, wanted in (("customs", "0916", customs), ("ciq", "210600", ciq)):
        body = ({"inspect": True, "containers": [numbers[i] for i in wanted], "kind": "physical",
                 "reason": f"{agency} risk rule"} if wanted else {"inspect": False})
        ok(client.post(f"{API}/declarations/{ids[agency]}/decision", json=body, headers=world.headers(office)), 201)
    seen = ok(client.get(f"{API}/inspections?filing={filing_id}", headers=world.headers(ENT)))
    return filing_id, ids, numbers, {tuple(i["containers"]): i for i in seen}


def relocate(client, world, inspection_id, location="inspection area B3"):
    task = next(t for t in ok(client.get(f"{API}/terminal/tasks", headers=world.headers("DCT")))
                if t["inspection_id"] == inspection_id)
    return ok(client.post(f"{API}/terminal/tasks/{task['id']}/complete", json={"location": location},
                          headers=world.headers("DCT")))


def book(client, world, inspection_id, at):
    return ok(client.post(f"{API}/inspections/{inspection_id}/appointment", json={"at": at.isoformat()},
                          headers=world.headers(ENT)))


def inspection(client, world, inspection_id, who=ENT):
    return ok(client.get(f"{API}/inspections/{inspection_id}", headers=world.headers(who)))


def joint_in_progress(client, world, clock, seed, *, ciq_comes=False):
    """A joint inspection of one container, relocated, booked for now and started by customs."""
    _, ids, numbers, by = matched(client, world, seed)
    joint = by[(numbers[0],)]
    relocate(client, world, joint["id"])
    book(client, world, joint["id"], clock.now())
    ok(client.post(f"{API}/inspections/{joint['id']}/check-in", headers=world.headers("0916")))
    if ciq_comes:
        ok(client.post(f"{API}/inspections/{joint['id']}/check-in", headers=world.headers("210600")))
    return joint["id"], ids, numbers


def other_terminal(run) -> dict[str, str]:
    from onewindow.parties.service import add_organisation, ensure_user, issue_token

    def setup(ctx):
        org = add_organisation(ctx, kind="terminal", code="QQCT", name="青岛前湾集装箱码头", port="CNQDG")
        return issue_token(ctx, ensure_user(ctx, org, "staff"))

    return {"Authorization": f"Bearer {run(setup)}"}


# --- arrivals --------------------------------------------------------------------------------------------------------


def test_the_terminal_records_arrivals(client, world):
    numbers = [c["number"] for c in sample_entry(seed=101, containers=2)["containers"]]
    body = ok(client.post(f"{API}/terminal/arrivals",
                          json={"containers": numbers, "conveyance": {"name": "COSCO AFRICA", "voyage": "123E"}},
                          headers=world.headers("DCT")), 201)
    assert [(c["number"], c["port"]) for c in body["containers"]] == [(n, "CNDAG") for n in sorted(numbers)]
    assert all(c["arrived_at"] for c in body["containers"])


def test_an_arrival_names_the_bad_container_number(client, world):
    good = sample_entry(seed=102, containers=1)["containers"][0]["number"]
    wrong_digit = good[:-1] + str((int(good[-1]) + 1) % 10)
    err = error(client.post(f"{API}/terminal/arrivals", json={"containers": [good, wrong_digit, 42]},
                            headers=world.headers("DCT")), 422)
    assert [d["loc"] for d in err["details"]] == [["containers", 1], ["containers", 2]]
    assert "check digit" in err["details"][0]["msg"]
    for body in ({"containers": []}, {}, {"containers": good}):
        err = error(client.post(f"{API}/terminal/arrivals", json=body, headers=world.headers("DCT")), 422)
        assert err["details"][0]["loc"] == ["containers"]
    ok(client.post(f"{API}/terminal/arrivals", json={"containers": [good]}, headers=world.headers("DCT")), 201)


def test_a_container_arrives_once_per_visit(client, world):
    first, second = (c["number"] for c in sample_entry(seed=103, containers=2)["containers"])
    ok(client.post(f"{API}/terminal/arrivals", json={"containers": [first]}, headers=world.headers("DCT")), 201)
    err = error(client.post(f"{API}/terminal/arrivals", json={"containers": [second, first]},
                            headers=world.headers("DCT")), 409)
    assert err["code"] == "already_arrived" and first in err["message"]
    # the refused request recorded nothing: the other container still arrives
    ok(client.post(f"{API}/terminal/arrivals", json={"containers": [second]}, headers=world.headers("DCT")), 201)


def test_a_container_expected_at_one_port_that_arrives_at_another_is_in_a_stay_there(client, world, run):
    """A decision opens the container's visit at the consignment's port before it arrives; the container
    turning up at another port is discharged there: that visit is withdrawn (nothing happened at the first
    port), and what was released at the first port does not let it leave the other."""
    _, ids, (number,) = accepted_filing(client, world, seed=106, containers=1, arrive=False)
    for agency, office in (("customs", "0916"), ("ciq", "210600")):
        ok(client.post(f"{API}/declarations/{ids[agency]}/decision", json={"inspect": False},
                       headers=world.headers(office)), 201)
        ok(client.post(f"{API}/declarations/{ids[agency]}/release", headers=world.headers(office)))
    assert ok(client.get(f"{API}/containers/{number}/release", headers=world.headers("DCT")))["released"] is True
    # not discharged yet: it cannot leave
    assert error(client.post(f"{API}/containers/{number}/gate-out", headers=world.headers("DCT")),
                 409)["code"] == "not_arrived"
    elsewhere = other_terminal(run)
    ok(client.post(f"{API}/terminal/arrivals", json={"containers": [number]}, headers=elsewhere), 201)
    status = ok(client.get(f"{API}/containers/{number}/release", headers=elsewhere))
    assert (status["released"], status["agencies"], status["pending"]) == (False, [], [])
    assert error(client.post(f"{API}/containers/{number}/gate-out", headers=elsewhere), 409)["code"] == "not_released"
    for who in ("DCT", ENT, "0916"):
        assert client.get(f"{API}/containers/{number}/release", headers=world.headers(who)).status_code == 404, who
    err = error(client.post(f"{API}/terminal/arrivals", json={"containers": [number]}, headers=world.headers("DCT")),
                409)
    assert err["code"] == "already_arrived" and number in err["message"]


def test_only_a_terminal_records_arrivals(client, world):
    number = sample_entry(seed=104, containers=1)["containers"][0]["number"]
    for who in (ENT, "0916", "210600", "PORTOFFICE"):
        err = error(client.post(f"{API}/terminal/arrivals", json={"containers": [number]},
                                headers=world.headers(who)), 403)
        assert err["code"] == "forbidden"
    viewer = world.token_with_role("DCT", "v", "viewer")
    assert client.post(f"{API}/terminal/arrivals", json={"containers": [number]}, headers=viewer).status_code == 403
    assert client.post(f"{API}/terminal/arrivals", json={"containers": [number]}).status_code == 401


@pytest.mark.parametrize("conveyance", [{"name": "X" * 101, "voyage": "1E"},
                                        {"name": "COSCO AFRICA", "voyage": "V" * 33}],
                         ids=["long-name", "long-voyage"])
def test_an_over_long_conveyance_is_an_invalid_payload(app, world, conveyance):
    number = sample_entry(seed=105, containers=1)["containers"][0]["number"]
    with TestClient(app, raise_server_exceptions=False) as client:
        answer = client.post(f"{API}/terminal/arrivals", json={"containers": [number], "conveyance": conveyance},
                             headers=world.headers("DCT"))
    assert answer.status_code == 422, (answer.status_code, answer.text[:200])


# --- relocation tasks ------------------------------------------------------------------------------------------------


def test_the_terminal_lists_and_completes_the_relocation_tasks_of_its_port(client, world, run):
    _, _, (a, b, c), by = matched(client, world, 111, customs=(0, 1), ciq=(1,))
    tasks = ok(client.get(f"{API}/terminal/tasks", headers=world.headers("DCT")))
    assert sorted((tuple(t["containers"]), t["status"]) for t in tasks) == sorted([((a,), "open"), ((b,), "open")])
    assert {t["inspection_id"] for t in tasks} == {by[(a,)]["id"], by[(b,)]["id"]}
    qqct = other_terminal(run)
    assert ok(client.get(f"{API}/terminal/tasks", headers=qqct)) == []
    assert ok(client.get(f"{API}/inspections", headers=qqct)) == []
    task = next(t for t in tasks if t["containers"] == [b])
    assert error(client.post(f"{API}/terminal/tasks/{task['id']}/complete", json={"location": "Q1"},
                             headers=qqct), 404)["code"] == "not_found"
    for who in (ENT, "0916"):
        assert client.get(f"{API}/terminal/tasks", headers=world.headers(who)).status_code == 403

    for body in ({}, {"location": ""}, {"location": "   "}):
        err = error(client.post(f"{API}/terminal/tasks/{task['id']}/complete", json=body,
                                headers=world.headers("DCT")), 422)
        assert err["details"][0]["loc"] == ["location"], body
    done = ok(client.post(f"{API}/terminal/tasks/{task['id']}/complete", json={"location": " inspection area B3 "},
                          headers=world.headers("DCT")))
    assert done["status"] == "done" and done["location"] == "inspection area B3" and done["completed_at"]
    joint = inspection(client, world, by[(b,)]["id"])
    assert joint["status"] == "ready" and joint["location"] == "inspection area B3"
    assert inspection(client, world, by[(a,)]["id"])["status"] == "awaiting_relocation"
    again = error(client.post(f"{API}/terminal/tasks/{task['id']}/complete", json={"location": "B4"},
                              headers=world.headers("DCT")), 409)
    assert again["code"] == "task_done"
    assert inspection(client, world, by[(b,)]["id"])["location"] == "inspection area B3"
    assert [t["containers"] for t in ok(client.get(f"{API}/terminal/tasks?status=open",
                                                   headers=world.headers("DCT")))] == [[a]]


# --- appointments ----------------------------------------------------------------------------------------------------


def test_the_enterprise_books_a_relocated_inspection(client, world, clock):
    _, _, (a, _b, _c), by = matched(client, world, 121)
    joint_id = by[(a,)]["id"]
    at = (clock.now() + timedelta(hours=3)).astimezone(SHANGHAI)
    err = error(client.post(f"{API}/inspections/{joint_id}/appointment", json={"at": at.isoformat()},
                            headers=world.headers(ENT)), 409)
    assert err["code"] == "not_ready"
    relocate(client, world, joint_id)
    past = clock.now() - timedelta(minutes=1)
    too_far = clock.now() + timedelta(days=365, minutes=1)
    for when in (past.isoformat(), at.replace(tzinfo=None).isoformat(), too_far.isoformat(),
                 "9999-12-31T23:59:59-14:00", "9999-12-31T23:59:59+00:00"):
        err = error(client.post(f"{API}/inspections/{joint_id}/appointment", json={"at": when},
                                headers=world.headers(ENT)), 422)
        assert err["details"][0]["loc"] == ["at"], when
    assert inspection(client, world, joint_id, "0916")["appointment"] is None
    assert error(client.post(f"{API}/inspections/{joint_id}/appointment", json={}, headers=world.headers(ENT)),
                 422)["details"][0]["loc"] == ["at"]
    for office in ("0916", "210600", "DCT"):
        err = error(client.post(f"{API}/inspections/{joint_id}/appointment", json={"at": at.isoformat()},
                                headers=world.headers(office)), 403)
        assert err["code"] == "forbidden"
    assert error(client.post(f"{API}/inspections/{joint_id}/appointment", json={"at": at.isoformat()},
                             headers=world.headers(OTHER)), 404)["code"] == "not_found"
    booked = book(client, world, joint_id, at)
    assert booked["status"] == "scheduled"
    assert inspection(client, world, joint_id, "0916")["appointment"].startswith(
        at.astimezone(clock.now().tzinfo).strftime("%Y-%m-%dT%H:%M"))
    # booked again (moved) while nobody has checked in
    later = book(client, world, joint_id, at + timedelta(hours=1))
    assert later["status"] == "scheduled"


# --- check-in and absences ---------------------------------------------------------------------------------------


def test_check_in_rules(client, world, clock):
    _, _, (a, b, _c), by = matched(client, world, 131, customs=(0, 1), ciq=(0,))
    joint_id, single_id = by[(a,)]["id"], by[(b,)]["id"]
    relocate(client, world, joint_id)
    err = error(client.post(f"{API}/inspections/{joint_id}/check-in", headers=world.headers("0916")), 409)
    assert err["code"] == "not_scheduled"
    book(client, world, joint_id, clock.now() + timedelta(hours=1))
    # offices not taking part do not see the inspection
    for office in ("0900", "210000"):
        assert error(client.post(f"{API}/inspections/{joint_id}/check-in", headers=world.headers(office)),
                     404)["code"] == "not_found"
    assert error(client.post(f"{API}/inspections/{single_id}/check-in", headers=world.headers("210600")),
                 404)["code"] == "not_found"
    assert client.post(f"{API}/inspections/{joint_id}/check-in", headers=world.headers(ENT)).status_code == 403
    clock.advance(hours=1)
    first = ok(client.post(f"{API}/inspections/{joint_id}/check-in", headers=world.headers("0916")))
    assert first["status"] == "in_progress" and first["started_at"]
    assert [r["checked_in_at"] is not None for r in first["results"]] == [False, True]  # ciq, customs
    again = error(client.post(f"{API}/inspections/{joint_id}/check-in", headers=world.headers("0916")), 409)
    assert again["code"] == "already_checked_in"
    second = ok(client.post(f"{API}/inspections/{joint_id}/check-in", headers=world.headers("210600")))
    assert second["status"] == "in_progress"
    assert all(r["checked_in_at"] for r in second["results"])
    # a booked inspection cannot be moved once it has started, and is told so
    started = error(client.post(f"{API}/inspections/{joint_id}/appointment",
                                json={"at": (clock.now() + timedelta(hours=1)).isoformat()},
                                headers=world.headers(ENT)), 409)
    assert started["code"] == "not_ready" and "already started" in started["message"], started


def test_an_appointment_nobody_keeps_lapses(client, world, run, clock):
    _, _, (a, _b, _c), by = matched(client, world, 141)
    joint_id = by[(a,)]["id"]
    relocate(client, world, joint_id)
    at = (clock.now() + timedelta(hours=1)).astimezone(SHANGHAI)
    book(client, world, joint_id, at)
    clock.advance(hours=1, seconds=1799)
    assert run(attendance.run_due) == 0
    assert inspection(client, world, joint_id)["status"] == "scheduled"
    clock.advance(seconds=1)
    assert run(attendance.run_due) == 1
    lapsed = inspection(client, world, joint_id)
    assert lapsed["status"] == "ready" and lapsed["appointment"] is None
    assert not any(r["absent"] for r in lapsed["results"])
    assert error(client.post(f"{API}/inspections/{joint_id}/check-in", headers=world.headers("0916")),
                 409)["code"] == "not_scheduled"
    # booked again, and this time kept
    book(client, world, joint_id, clock.now() + timedelta(minutes=30))
    assert ok(client.post(f"{API}/inspections/{joint_id}/check-in",
                          headers=world.headers("210600")))["status"] == "in_progress"


# --- results ---------------------------------------------------------------------------------------------------------


def test_results_complete_the_inspection_when_every_present_agency_has_one(client, world, clock):
    _, _, (a, _b, _c), by = matched(client, world, 151)
    joint_id = by[(a,)]["id"]
    relocate(client, world, joint_id)
    book(client, world, joint_id, clock.now())
    url = f"{API}/inspections/{joint_id}/results"
    err = error(client.post(url, json={"outcome": "conforming"}, headers=world.headers("0916")), 409)
    assert err["code"] == "not_checked_in"
    ok(client.post(f"{API}/inspections/{joint_id}/check-in", headers=world.headers("0916")))
    for body, locs in (({"outcome": "fine"}, [["outcome"]]), ({}, [["outcome"]]),
                       ({"outcome": "nonconforming", "findings": "pests"}, [["disposal"]]),
                       ({"outcome": "nonconforming", "disposal": "  "}, [["disposal"]])):
        err = error(client.post(url, json=body, headers=world.headers("0916")), 422)
        assert [d["loc"] for d in err["details"]] == locs, body
    # CIQ has not checked in yet: no result from it
    assert error(client.post(url, json={"outcome": "conforming"}, headers=world.headers("210600")),
                 409)["code"] == "not_checked_in"
    ok(client.post(f"{API}/inspections/{joint_id}/check-in", headers=world.headers("210600")))
    assert client.post(url, json={"outcome": "conforming"}, headers=world.headers(ENT)).status_code == 403
    one = ok(client.post(url, json={"outcome": "conforming", "findings": "as declared"}, headers=world.headers("0916")))
    assert one["status"] == "in_progress"
    assert error(client.post(url, json={"outcome": "conforming"}, headers=world.headers("0916")),
                 409)["code"] == "result_recorded"
    done = ok(client.post(url, json={"outcome": "nonconforming", "findings": "live pests in 2 cartons",
                                     "disposal": "fumigation under supervision"}, headers=world.headers("210600")))
    assert done["status"] == "completed" and done["completed_at"]
    results = {r["agency"]: r for r in done["results"]}
    assert results["ciq"]["outcome"] == "nonconforming" and results["customs"]["outcome"] == "conforming"
    # results are visible to the other agency ...
    seen_by_customs = {r["agency"]: r for r in inspection(client, world, joint_id, "0916")["results"]}
    assert seen_by_customs["ciq"]["findings"] == "live pests in 2 cartons"
    assert seen_by_customs["ciq"]["reasons"] == ["ciq risk rule"]
    # ... the enterprise sees outcomes and findings but never the reasons
    seen_by_enterprise = {r["agency"]: r for r in inspection(client, world, joint_id, ENT)["results"]}
    assert seen_by_enterprise["ciq"]["outcome"] == "nonconforming"
    assert seen_by_enterprise["ciq"]["findings"] == "live pests in 2 cartons"
    assert seen_by_enterprise["ciq"]["disposal"] == "fumigation under supervision"
    assert all(r["reasons"] is None for r in seen_by_enterprise.values())
    # the terminal sees the inspection, without reasons or findings
    seen_by_terminal = inspection(client, world, joint_id, "DCT")
    assert seen_by_terminal["status"] == "completed"
    assert all(r["reasons"] is None and r["findings"] is None for r in seen_by_terminal["results"])


def test_an_absent_agency_adopts_the_results_once_after_completion(client, world, run, clock):
    joint_id, _, _ = joint_in_progress(client, world, clock, 161)
    adopt = f"{API}/inspections/{joint_id}/adopt"
    assert error(client.post(adopt, headers=world.headers("210600")), 409)["code"] == "not_absent"
    clock.advance(seconds=1800)
    assert run(attendance.run_due) == 1
    absent = inspection(client, world, joint_id, "0916")
    assert {r["agency"]: r["absent"] for r in absent["results"]} == {"ciq": True, "customs": False}
    assert absent["status"] == "in_progress"
    assert error(client.post(adopt, headers=world.headers("210600")), 409)["code"] == "not_completed"
    assert error(client.post(f"{API}/inspections/{joint_id}/check-in", headers=world.headers("210600")),
                 409)["code"] == "absent"
    assert error(client.post(f"{API}/inspections/{joint_id}/results", json={"outcome": "conforming"},
                             headers=world.headers("210600")), 409)["code"] == "not_checked_in"
    done = ok(client.post(f"{API}/inspections/{joint_id}/results", json={"outcome": "conforming"},
                          headers=world.headers("0916")))
    assert done["status"] == "completed"  # the absent agency is not waited for
    assert error(client.post(adopt, headers=world.headers("0916")), 409)["code"] == "not_absent"
    adopted = ok(client.post(adopt, headers=world.headers("210600")))
    assert next(r for r in adopted["results"] if r["agency"] == "ciq")["adopted_at"]
    assert error(client.post(adopt, headers=world.headers("210600")), 409)["code"] == "already_adopted"
    assert error(client.post(f"{API}/inspections/{joint_id}/reinspect", headers=world.headers("210600")),
                 409)["code"] == "already_adopted"
    ciq = next(r for r in inspection(client, world, joint_id, "0916")["results"] if r["agency"] == "ciq")
    assert ciq["reinspected_at"] is None and ciq["reinspection_id"] is None


def test_an_absent_agency_gets_its_own_late_inspection(client, world, run, clock):
    joint_id, _, (a, _b, _c) = joint_in_progress(client, world, clock, 171)
    clock.advance(seconds=1800)
    run(attendance.run_due)
    assert error(client.post(f"{API}/inspections/{joint_id}/reinspect", headers=world.headers("0916")),
                 409)["code"] == "not_absent"
    new = ok(client.post(f"{API}/inspections/{joint_id}/reinspect", headers=world.headers("210600")), 201)
    assert new["id"] != joint_id and new["containers"] == [a] and new["agencies"] == ["ciq"]
    assert new["joint"] is False and new["late"] is True and new["status"] == "awaiting_relocation"
    assert new["results"][0]["reasons"] == ["ciq risk rule"]
    ciq = next(r for r in inspection(client, world, joint_id, "210600")["results"] if r["agency"] == "ciq")
    assert ciq["adopted_at"] is None  # it did not rely on the others' results: it asked for its own
    assert ciq["reinspected_at"] == clock.now().isoformat().replace("+00:00", "Z")
    assert ciq["reinspection_id"] == new["id"]
    assert error(client.post(f"{API}/inspections/{joint_id}/reinspect", headers=world.headers("210600")),
                 409)["code"] == "already_reinspected"
    assert error(client.post(f"{API}/inspections/{joint_id}/adopt", headers=world.headers("210600")),
                 409)["code"] in ("already_adopted", "not_completed")
    open_tasks = ok(client.get(f"{API}/terminal/tasks?status=open", headers=world.headers("DCT")))
    assert [(t["inspection_id"], t["containers"]) for t in open_tasks] == [(new["id"], [a])]
    # customs does not see CIQ's own inspection; the enterprise does
    assert client.get(f"{API}/inspections/{new['id']}", headers=world.headers("0916")).status_code == 404
    assert inspection(client, world, new["id"], ENT)["late"] is True
    # and it runs its course alone
    relocate(client, world, new["id"])
    book(client, world, new["id"], clock.now())
    ok(client.post(f"{API}/inspections/{new['id']}/check-in", headers=world.headers("210600")))
    assert ok(client.post(f"{API}/inspections/{new['id']}/results", json={"outcome": "conforming"},
                          headers=world.headers("210600")))["status"] == "completed"


# --- who sees a filing's inspections ---------------------------------------------------------------------------------


def test_the_parties_of_a_filing_and_the_terminal_list_its_inspections(client, world, run):
    filing_id, _, (a, b, c), by = matched(client, world, 181, customs=(0, 1), ciq=(1, 2))
    everything = {by[(a,)]["id"], by[(b,)]["id"], by[(c,)]["id"]}

    def listed(headers):
        return {i["id"] for i in ok(client.get(f"{API}/inspections?filing={filing_id}", headers=headers))}

    assert listed(world.headers("DCT")) == everything
    assert listed(world.headers(ENT)) == everything
    assert listed(world.headers("0916")) == {by[(a,)]["id"], by[(b,)]["id"]}
    assert listed(world.headers("210600")) == {by[(b,)]["id"], by[(c,)]["id"]}
    for outsider in (OTHER, "0900", "210000", "PORTOFFICE"):
        assert listed(world.headers(outsider)) == set(), outsider
    assert listed(other_terminal(run)) == set()
    assert listed(world.token_with_role(ENT, "v", "viewer")) == everything
    for outsider in (OTHER, "0900"):
        assert client.get(f"{API}/inspections/{by[(b,)]['id']}", headers=world.headers(outsider)).status_code == 404
    assert client.get(f"{API}/inspections?filing=not-a-uuid", headers=world.headers(ENT)).status_code == 422


def test_an_inspection_read_by_id_changes_only_through_its_plain_update(client, world, run):
    """An inspection read by id is outside the session: a plain attribute change would never be written, so it
    is refused; ``stored.write`` writes it at once."""
    from onewindow.inspections import repository, stored

    _, _, _, found = matched(client, world, seed=41)
    inspection_id = next(iter(found.values()))["id"]

    def change_by_attribute(ctx):
        inspection = repository.get_inspection(ctx, inspection_id)
        with pytest.raises(RuntimeError, match="stored.write"):
            inspection.location = "quay 3"
        with pytest.raises(RuntimeError, match="stored.write"):
            inspection.participants[0].findings = "seal intact"

    run(change_by_attribute, as_org="0916")
    run(lambda ctx: stored.write(ctx.session, repository.get_inspection(ctx, inspection_id), location="quay 3"),
        as_org="0916")
    assert inspection(client, world, inspection_id)["location"] == "quay 3"
