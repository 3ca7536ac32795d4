"""Releases over HTTP: each agency's release, the combined release of a container, holds and gate-out."""

from __future__ import annotations


from sqlalchemy import select

from onewindow.models import Event
from onewindow.samples import sample_entry
from tests.flows import API, ENT, OFFICES, OTHER, accepted_filing, discharge, error, ok


def no_inspection(client, world, ids, *agencies):
    for agency in agencies or tuple(ids):
        ok(client.post(f"{API}/declarations/{ids[agency]}/decision", json={"inspect": False},
                       headers=world.headers(OFFICES[agency])), 201)


def release(client, world, ids, agency, status=200):
    return client.post(f"{API}/declarations/{ids[agency]}/release", headers=world.headers(OFFICES[agency]))


def released(client, world, ids, agency):
    return ok(release(client, world, ids, agency))


def container(client, number, headers):
    return ok(client.get(f"{API}/containers/{number}/release", headers=headers))


def container_events(run, type_, number=None):
    def query(ctx):
        return [e.data for e in ctx.session.scalars(select(Event).where(Event.type == type_).order_by(Event.seq))
                if number is None or e.data.get("container") == number]
    return run(query)


def leaves_once_released_again(client, world, run, ids, agency, number):
    """The container, released before and now waiting for ``agency``, may not leave; once the agency releases,
    ``container.released`` is published again and the container leaves."""
    refused = error(client.post(f"{API}/containers/{number}/gate-out", headers=world.headers("DCT")), 409)
    assert refused["details"] == [{"pending": [agency]}]
    released(client, world, ids, agency)
    assert len(container_events(run, "container.released", number)) == 2
    ok(client.post(f"{API}/containers/{number}/gate-out", headers=world.headers("DCT")))


def inspected_by_customs(client, world, clock, seed):
    """A filing where customs inspects the first container (a single inspection, relocated and booked)."""
    filing_id, ids, numbers = accepted_filing(client, world, seed=seed, containers=2)
    ok(client.post(f"{API}/declarations/{ids['customs']}/decision",
                   json={"inspect": True, "containers": [numbers[0]], "kind": "physical", "reason": "R-17"},
                   headers=world.headers("0916")), 201)
    no_inspection(client, world, ids, "ciq")
    (single,) = ok(client.get(f"{API}/inspections?filing={filing_id}", headers=world.headers(ENT)))
    (task,) = ok(client.get(f"{API}/terminal/tasks", headers=world.headers("DCT")))
    ok(client.post(f"{API}/terminal/tasks/{task['id']}/complete", json={"location": "B3"},
                   headers=world.headers("DCT")))
    ok(client.post(f"{API}/inspections/{single['id']}/appointment", json={"at": clock.now().isoformat()},
                   headers=world.headers(ENT)))
    return ids, numbers, single["id"]


# --- an agency's release ---------------------------------------------------------------------------------------------


def test_release_waits_for_the_inspections_the_agency_takes_part_in(client, world, clock):
    ids, (a, b), single_id = inspected_by_customs(client, world, clock, seed=201)
    err = error(release(client, world, ids, "customs"), 409)
    assert err["code"] == "inspection_open" and single_id in err["message"]
    # CIQ does not take part in the customs inspection: it releases
    assert released(client, world, ids, "ciq")["status"] == "released"
    ok(client.post(f"{API}/inspections/{single_id}/check-in", headers=world.headers("0916")))
    assert error(release(client, world, ids, "customs"), 409)["code"] == "inspection_open"
    ok(client.post(f"{API}/inspections/{single_id}/results", json={"outcome": "conforming"},
                   headers=world.headers("0916")))
    assert released(client, world, ids, "customs")["status"] == "released"
    assert container(client, a, world.headers("DCT"))["released"] is True
    assert error(release(client, world, ids, "customs"), 409)["code"] == "not_releasable"


def test_a_pending_inspection_decision_blocks_the_release(client, world):
    _, ids, (a, _b) = accepted_filing(client, world, seed=202, containers=2)
    ok(client.post(f"{API}/declarations/{ids['customs']}/decision",
                   json={"inspect": True, "containers": [a], "kind": "physical"}, headers=world.headers("0916")), 201)
    assert error(release(client, world, ids, "customs"), 409)["code"] == "decision_pending"


def test_only_accepted_declarations_are_released(client, world):
    _, ids, (a, _b) = accepted_filing(client, world, seed=203, containers=2, accept=())
    assert error(release(client, world, ids, "customs"), 409)["code"] == "not_releasable"
    ok(client.post(f"{API}/declarations/{ids['ciq']}/reject", json={"reason": "no certificate"},
                   headers=world.headers("210600")))
    assert error(release(client, world, ids, "ciq"), 409)["code"] == "not_releasable"
    _, drafts, _ = accepted_filing(client, world, seed=204, containers=2, submit=(), accept=())
    assert error(release(client, world, drafts, "customs"), 404)["code"] == "not_found"


def test_who_may_release(client, world):
    _, ids, _ = accepted_filing(client, world, seed=205, containers=2)
    for who in ("0900", "210600"):
        assert client.post(f"{API}/declarations/{ids['customs']}/release",
                           headers=world.headers(who)).status_code == 404
    for headers in (world.headers(ENT), world.token_with_role("0916", "v", "viewer")):
        assert error(client.post(f"{API}/declarations/{ids['customs']}/release", headers=headers),
                     403)["code"] == "forbidden"


def test_a_nonconforming_result_with_its_disposal_allows_the_release(client, world, clock):
    ids, (a, b), single_id = inspected_by_customs(client, world, clock, seed=206)
    ok(client.post(f"{API}/inspections/{single_id}/check-in", headers=world.headers("0916")))
    ok(client.post(f"{API}/inspections/{single_id}/results",
                   json={"outcome": "nonconforming", "findings": "undeclared goods",
                         "disposal": "duty and fine paid; goods may leave"}, headers=world.headers("0916")))
    assert released(client, world, ids, "customs")["status"] == "released"


def test_an_absent_agency_adopts_or_reinspects_before_it_releases(client, world, run, clock):
    from onewindow.inspections import attendance

    filing_id, ids, (a, b) = accepted_filing(client, world, seed=207, containers=2)
    for agency in ("customs", "ciq"):
        ok(client.post(f"{API}/declarations/{ids[agency]}/decision",
                       json={"inspect": True, "containers": [a], "kind": "physical"},
                       headers=world.headers(OFFICES[agency])), 201)
    (joint,) = ok(client.get(f"{API}/inspections?filing={filing_id}", headers=world.headers(ENT)))
    (task,) = ok(client.get(f"{API}/terminal/tasks", headers=world.headers("DCT")))
    ok(client.post(f"{API}/terminal/tasks/{task['id']}/complete", json={"location": "B3"},
                   headers=world.headers("DCT")))
    ok(client.post(f"{API}/inspections/{joint['id']}/appointment", json={"at": clock.now().isoformat()},
                   headers=world.headers(ENT)))
    ok(client.post(f"{API}/inspections/{joint['id']}/check-in", headers=world.headers("0916")))
    clock.advance(seconds=1800)
    run(attendance.run_due)
    ok(client.post(f"{API}/inspections/{joint['id']}/results", json={"outcome": "conforming"},
                   headers=world.headers("0916")))
    released(client, world, ids, "customs")
    err = error(release(client, world, ids, "ciq"), 409)
    assert err["code"] == "inspection_open" and "absent" in err["message"]
    new = ok(client.post(f"{API}/inspections/{joint['id']}/reinspect", headers=world.headers("210600")), 201)
    err = error(release(client, world, ids, "ciq"), 409)
    assert err["code"] == "inspection_open" and new["id"] in err["message"]
    assert joint["id"] not in err["message"]  # its part of the joint inspection moved to its own
    assert container(client, a, world.headers("DCT"))["pending"] == ["ciq"]

# --- the combined release of a container ---------------------------------------------------------------------------


def test_a_container_is_released_when_every_covering_agency_has_released(client, world, run):
    _, ids, (a, b) = accepted_filing(client, world, seed=211, containers=2)
    no_inspection(client, world, ids)
    for headers in (world.headers("DCT"), world.headers(ENT)):
        status = container(client, a, headers)
        assert status | {"released_at": None} == {"container": a, "released": False, "released_at": None,
                                                  "agencies": [], "pending": ["ciq", "customs"]}
    released(client, world, ids, "customs")
    status = container(client, a, world.headers(ENT))
    assert (status["released"], status["agencies"], status["pending"]) == (False, ["customs"], ["ciq"])
    assert container_events(run, "container.released") == []
    released(client, world, ids, "ciq")
    for number in (a, b):
        status = container(client, number, world.headers("DCT"))
        assert (status["released"], status["agencies"], status["pending"]) == (True, ["ciq", "customs"], [])
        assert status["released_at"]
    assert sorted(e["container"] for e in container_events(run, "container.released")) == sorted([a, b])
    # the agencies see it too; another enterprise, another terminal or an unknown container do not
    assert container(client, a, world.headers("0916"))["released"] is True
    for who in (OTHER, "0900"):
        assert error(client.get(f"{API}/containers/{a}/release", headers=world.headers(who)), 404)["code"] == \
            "not_found"
    unknown = sample_entry(seed=299, containers=1)["containers"][0]["number"]
    assert client.get(f"{API}/containers/{unknown}/release", headers=world.headers("DCT")).status_code == 404


def test_a_container_shared_by_two_filings_waits_for_both(client, world, run):
    f1, ids1, (shared,) = accepted_filing(client, world, seed=212, containers=1, inspected=False)
    f2, ids2, _ = accepted_filing(client, world, seed=213, enterprise=OTHER, numbers=[shared], arrive=False)
    no_inspection(client, world, ids1)
    no_inspection(client, world, ids2)
    released(client, world, ids1, "customs")
    released(client, world, ids2, "ciq")
    status = container(client, shared, world.headers("DCT"))
    # customs has released one of its two declarations covering the container: customs is still pending
    assert (status["released"], status["agencies"], status["pending"]) == (False, ["ciq"], ["customs"])
    released(client, world, ids2, "customs")
    assert container(client, shared, world.headers(ENT))["released"] is True
    assert container(client, shared, world.headers(OTHER))["released"] is True
    assert len(container_events(run, "container.released", shared)) == 1


def test_a_declaration_not_yet_accepted_does_not_hold_the_container(client, world):
    _, ids, (a, _b) = accepted_filing(client, world, seed=214, containers=2, accept=("customs",))
    no_inspection(client, world, ids, "customs")
    released(client, world, ids, "customs")
    # CIQ's declaration is only submitted: it does not cover the container yet
    assert container(client, a, world.headers("DCT"))["released"] is True


def test_a_declaration_accepted_after_the_release_takes_part_in_it(client, world, run):
    _, ids, (a, _b) = accepted_filing(client, world, seed=215, containers=2, submit=("customs",), accept=("customs",))
    no_inspection(client, world, ids, "customs")
    released(client, world, ids, "customs")
    assert container(client, a, world.headers("DCT"))["released"] is True
    filing_id = ok(client.get(f"{API}/declarations/{ids['ciq']}", headers=world.headers(ENT)))["filing_id"]
    ok(client.post(f"{API}/filings/{filing_id}/submit", json={"agencies": ["ciq"]}, headers=world.headers(ENT)))
    ok(client.post(f"{API}/declarations/{ids['ciq']}/accept", headers=world.headers("210600")))
    status = container(client, a, world.headers("DCT"))
    assert (status["released"], status["pending"]) == (False, ["ciq"])
    no_inspection(client, world, ids, "ciq")
    released(client, world, ids, "ciq")
    assert container(client, a, world.headers("DCT"))["released"] is True
    # the release the terminal acts on names every agency that released
    assert container_events(run, "container.released", a)[-1]["agencies"] == ["ciq", "customs"]


def test_a_declaration_accepted_after_its_container_left_changes_nothing_of_it(client, world, run):
    _, ids, (a, b) = accepted_filing(client, world, seed=219, containers=2, submit=("customs",), accept=("customs",))
    no_inspection(client, world, ids, "customs")
    released(client, world, ids, "customs")
    ok(client.post(f"{API}/containers/{a}/gate-out", headers=world.headers("DCT")))  # CIQ had not accepted yet
    filing_id = ok(client.get(f"{API}/declarations/{ids['ciq']}", headers=world.headers(ENT)))["filing_id"]
    ok(client.post(f"{API}/filings/{filing_id}/submit", json={"agencies": ["ciq"]}, headers=world.headers(ENT)))
    ok(client.post(f"{API}/declarations/{ids['ciq']}/accept", headers=world.headers("210600")))
    # A has gone with its goods: it is not at the port again; B, still there, now waits for CIQ
    assert client.get(f"{API}/containers/{a}/release", headers=world.headers("DCT")).status_code == 404
    assert container(client, b, world.headers("DCT"))["pending"] == ["ciq"]
    assert [e["container"] for e in container_events(run, "container.release_revoked")] == [b]
    decide = lambda body: client.post(f"{API}/declarations/{ids['ciq']}/decision", json=body,  # noqa: E731
                                      headers=world.headers("210600"))
    refused = error(decide({"inspect": True, "containers": [a, b], "kind": "sampling"}), 409)
    assert refused["code"] == "gated_out" and a in refused["message"] and b not in refused["message"]
    ok(decide({"inspect": False}), 201)  # the refused decision was not kept
    released(client, world, ids, "ciq")
    assert [e["container"] for e in container_events(run, "container.released")] == [a, b, b]
    assert client.get(f"{API}/containers/{a}/release", headers=world.headers("DCT")).status_code == 404
    held = error(client.post(f"{API}/declarations/{ids['ciq']}/revoke-release", json={"reason": "late finding"},
                             headers=world.headers("210600")), 409)
    assert held["code"] == "gated_out"


def test_a_decision_on_goods_that_have_all_left_waits_for_nobody(client, world, run, clock):
    from onewindow.inspections.service import run_due

    _, ids, (a, b) = accepted_filing(client, world, seed=221, containers=2, submit=("customs",), accept=("customs",))
    no_inspection(client, world, ids, "customs")
    released(client, world, ids, "customs")
    for number in (a, b):  # CIQ had not accepted yet
        ok(client.post(f"{API}/containers/{number}/gate-out", headers=world.headers("DCT")))
    filing_id = ok(client.get(f"{API}/declarations/{ids['ciq']}", headers=world.headers(ENT)))["filing_id"]
    ok(client.post(f"{API}/filings/{filing_id}/submit", json={"agencies": ["ciq"]}, headers=world.headers(ENT)))
    ok(client.post(f"{API}/declarations/{ids['ciq']}/accept", headers=world.headers("210600")))
    decided = ok(client.post(f"{API}/declarations/{ids['ciq']}/decision", json={"inspect": False},
                             headers=world.headers("210600")), 201)
    assert decided["status"] == "cleared"  # matched at once: no container at the port waits for another agency
    clock.advance(seconds=7201)
    assert run(run_due) == 0  # nothing left for the scheduler to try again on every round


def test_a_container_that_left_before_the_filing_waits_for_its_next_arrival(client, world, clock):
    _, ids, (a, _b) = accepted_filing(client, world, seed=220, containers=2)
    no_inspection(client, world, ids)
    released(client, world, ids, "customs")
    released(client, world, ids, "ciq")
    ok(client.post(f"{API}/containers/{a}/gate-out", headers=world.headers("DCT")))
    clock.advance(days=20)
    # the same container, its next voyage's goods filed before it is discharged again
    _, again, _ = accepted_filing(client, world, seed=221, numbers=[a], arrive=False)
    status = container(client, a, world.headers(ENT))
    assert (status["released"], status["pending"]) == (False, ["ciq", "customs"])
    no_inspection(client, world, again)
    released(client, world, again, "customs")
    released(client, world, again, "ciq")
    assert container(client, a, world.headers(ENT))["released"] is True


def _amend_containers(client, world, ids, agency, keep):
    """The agency amends its declaration to cover only the containers in ``keep``."""
    headers = world.headers(OFFICES[agency])
    data = ok(client.get(f"{API}/declarations/{ids[agency]}", headers=headers))["data"]
    return ok(client.post(f"{API}/declarations/{ids[agency]}/amendments", headers=headers, json={
        "changes": {"containers": [c for c in data["containers"] if c["number"] in keep]},
        "reason": "short-shipped"}), 201)


def test_an_amendment_that_drops_a_container_lets_the_others_release_it(client, world, run):
    _, ids, (a, b) = accepted_filing(client, world, seed=216, containers=2)
    no_inspection(client, world, ids)
    released(client, world, ids, "ciq")
    assert container(client, a, world.headers("DCT"))["pending"] == ["customs"]
    _amend_containers(client, world, ids, "customs", keep={b})  # A was short-shipped under customs' declaration
    status = container(client, a, world.headers("DCT"))
    assert (status["released"], status["agencies"], status["pending"]) == (True, ["ciq"], [])
    [event] = container_events(run, "container.released", a)
    assert event["agencies"] == ["ciq"]
    assert container(client, b, world.headers("DCT"))["released"] is False  # B still waits for customs
    ok(client.post(f"{API}/containers/{a}/gate-out", headers=world.headers("DCT")))


def test_an_amendment_that_adds_a_released_container_holds_it_for_that_agency(client, world, run):
    _, ids, (a, b) = accepted_filing(client, world, seed=217, containers=2)
    no_inspection(client, world, ids)
    released(client, world, ids, "ciq")
    _amend_containers(client, world, ids, "customs", keep={b})
    assert container(client, a, world.headers("DCT"))["released"] is True
    data = ok(client.get(f"{API}/declarations/{ids['ciq']}", headers=world.headers("210600")))["data"]
    ok(client.post(f"{API}/declarations/{ids['customs']}/amendments", headers=world.headers("0916"), json={
        "changes": {"containers": data["containers"]}, "reason": "found on board after all"}), 201)
    status = container(client, a, world.headers("DCT"))
    assert (status["released"], status["pending"]) == (False, ["customs"])
    [held] = container_events(run, "container.release_revoked", a)
    assert held["agencies"] == ["customs"] and held["reason"] == "the customs declaration was amended"
    leaves_once_released_again(client, world, run, ids, "customs", a)


def test_an_amendment_does_not_add_a_container_that_has_left(client, world):
    _, ids, (a, b) = accepted_filing(client, world, seed=218, containers=2)
    no_inspection(client, world, ids)
    released(client, world, ids, "ciq")
    _amend_containers(client, world, ids, "customs", keep={b})
    ok(client.post(f"{API}/containers/{a}/gate-out", headers=world.headers("DCT")))  # released by CIQ alone
    data = ok(client.get(f"{API}/declarations/{ids['ciq']}", headers=world.headers("210600")))["data"]
    refused = error(client.post(f"{API}/declarations/{ids['customs']}/amendments", headers=world.headers("0916"),
                                json={"changes": {"containers": data["containers"]}, "reason": "found"}), 409)
    assert refused["code"] == "gated_out" and a in refused["message"]
    assert client.get(f"{API}/containers/{a}/release", headers=world.headers("DCT")).status_code == 404  # not back
    released(client, world, ids, "customs")  # B; A stays gone
    assert client.get(f"{API}/containers/{a}/release", headers=world.headers("DCT")).status_code == 404


# --- gate-out --------------------------------------------------------------------------------------------------------


def test_gate_out_waits_for_the_release_and_happens_once(client, world, run):
    _, ids, (a, b) = accepted_filing(client, world, seed=221, containers=2)
    no_inspection(client, world, ids)
    refused = error(client.post(f"{API}/containers/{a}/gate-out", headers=world.headers("DCT")), 409)
    assert refused["code"] == "not_released" and refused["details"] == [{"pending": ["ciq", "customs"]}]
    released(client, world, ids, "ciq")
    refused = error(client.post(f"{API}/containers/{a}/gate-out", headers=world.headers("DCT")), 409)
    assert refused["details"] == [{"pending": ["customs"]}] and "customs" in refused["message"]
    released(client, world, ids, "customs")
    for who in (ENT, "0916"):
        assert client.post(f"{API}/containers/{a}/gate-out", headers=world.headers(who)).status_code == 403
    out = ok(client.post(f"{API}/containers/{a}/gate-out", headers=world.headers("DCT")))
    assert out["container"] == a and out["gated_out_at"]
    again = error(client.post(f"{API}/containers/{a}/gate-out", headers=world.headers("DCT")), 409)
    assert again["code"] == "already_gated_out"
    assert [e["container"] for e in container_events(run, "container.gated_out")] == [a]
    # the other container of the consignment is still at the port, released
    assert container(client, b, world.headers("DCT"))["released"] is True


def test_another_ports_terminal_cannot_gate_the_container_out(client, world, run):
    from onewindow.parties.service import add_organisation, ensure_user, issue_token

    def setup(ctx):
        org = add_organisation(ctx, kind="terminal", code="QQCT", name="青岛前湾集装箱码头", port="CNQDG")
        return issue_token(ctx, ensure_user(ctx, org, "staff"))

    qqct = {"Authorization": f"Bearer {run(setup)}"}
    _, ids, (a, _b) = accepted_filing(client, world, seed=222, containers=2)
    no_inspection(client, world, ids)
    released(client, world, ids, "customs")
    released(client, world, ids, "ciq")
    assert client.get(f"{API}/containers/{a}/release", headers=qqct).status_code == 404
    assert client.post(f"{API}/containers/{a}/gate-out", headers=qqct).status_code == 404
    ok(client.post(f"{API}/containers/{a}/gate-out", headers=world.headers("DCT")))


# --- holds (revoking a release) ----------------------------------------------------------------------------------


def test_a_hold_before_gate_out_unreleases_the_containers(client, world, run):
    _, ids, (a, b) = accepted_filing(client, world, seed=231, containers=2)
    no_inspection(client, world, ids)
    assert error(client.post(f"{API}/declarations/{ids['ciq']}/revoke-release", json={"reason": "lab"},
                             headers=world.headers("210600")), 409)["code"] == "not_released"
    released(client, world, ids, "customs")
    released(client, world, ids, "ciq")
    url = f"{API}/declarations/{ids['ciq']}/revoke-release"
    for body in ({}, {"reason": ""}, {"reason": "   "}):
        err = error(client.post(url, json=body, headers=world.headers("210600")), 422)
        assert err["details"][0]["loc"] == ["reason"], body
    assert client.post(url, json={"reason": "lab"}, headers=world.headers("0916")).status_code == 404
    assert client.post(url, json={"reason": "lab"}, headers=world.headers(ENT)).status_code == 403
    held = ok(client.post(url, json={"reason": " lab result pending "}, headers=world.headers("210600")))
    assert held["status"] == "accepted"
    for number in (a, b):
        status = container(client, number, world.headers("DCT"))
        assert (status["released"], status["released_at"], status["pending"]) == (False, None, ["ciq"])
    revoked = container_events(run, "container.release_revoked")
    assert sorted(e["container"] for e in revoked) == sorted([a, b])
    assert all((e["agencies"], e["reason"]) == (["ciq"], "lab result pending") for e in revoked)  # why, too
    leaves_once_released_again(client, world, run, ids, "ciq", a)


def test_no_hold_after_gate_out(client, world):
    _, ids, (a, b) = accepted_filing(client, world, seed=232, containers=2)
    no_inspection(client, world, ids)
    released(client, world, ids, "customs")
    released(client, world, ids, "ciq")
    ok(client.post(f"{API}/containers/{a}/gate-out", headers=world.headers("DCT")))
    for agency in ("customs", "ciq"):
        err = error(client.post(f"{API}/declarations/{ids[agency]}/revoke-release", json={"reason": "too late"},
                                headers=world.headers(OFFICES[agency])), 409)
        assert err["code"] == "gated_out"
    assert container(client, b, world.headers("DCT"))["released"] is True


def test_container_released_is_published_once_per_release(client, world, run, clock):
    ids, (a, b), single_id = inspected_by_customs(client, world, clock, seed=241)
    released(client, world, ids, "ciq")
    ok(client.post(f"{API}/inspections/{single_id}/check-in", headers=world.headers("0916")))
    ok(client.post(f"{API}/inspections/{single_id}/results", json={"outcome": "conforming"},
                   headers=world.headers("0916")))
    released(client, world, ids, "customs")
    clock.advance(minutes=5)
    # refused and read-only calls publish nothing more
    release(client, world, ids, "customs")
    container(client, a, world.headers("DCT"))
    ok(client.post(f"{API}/containers/{a}/gate-out", headers=world.headers("DCT")))
    client.post(f"{API}/containers/{a}/gate-out", headers=world.headers("DCT"))
    events = container_events(run, "container.released")
    assert sorted(e["container"] for e in events) == sorted([a, b])
    assert all(e["agencies"] == ["ciq", "customs"] for e in events)


# --- a container that comes back: a new visit ---------------------------------------------------------------------


def left_with_its_goods(client, world, clock, seed):
    """A consignment in one container, released by both agencies and gated out, the container back at the
    port a week later (a new visit): (declaration ids, container)."""
    _, ids, (a,) = accepted_filing(client, world, seed=seed, containers=1)
    no_inspection(client, world, ids)
    released(client, world, ids, "customs")
    released(client, world, ids, "ciq")
    clock.advance(hours=2)
    ok(client.post(f"{API}/containers/{a}/gate-out", headers=world.headers("DCT")))
    clock.advance(days=7)
    discharge(client, world, [a])  # back with other goods
    clock.advance(hours=1)
    return ids, a


def feed_types(client, world, who):
    return [e["type"] for e in ok(client.get(f"{API}/events", params={"limit": 1000},
                                             headers=world.headers(who)))["events"]]


def test_a_container_back_at_the_port_waits_only_for_the_declarations_of_its_new_visit(client, world, run, clock):
    ids, a = left_with_its_goods(client, world, clock, seed=251)
    status = container(client, a, world.headers("DCT"))
    assert (status["released"], status["agencies"], status["pending"]) == (False, [], [])
    _, again, _ = accepted_filing(client, world, seed=252, enterprise=OTHER, numbers=[a], arrive=False,
                                  accept=("customs",))
    for who in ("DCT", OTHER, "0916"):
        status = container(client, a, world.headers(who))
        # CIQ released the earlier consignment; this one's CIQ declaration is only submitted
        assert (status["released"], status["agencies"], status["pending"]) == (False, [], ["customs"]), who
    no_inspection(client, world, again, "customs")
    released(client, world, again, "customs")
    status = container(client, a, world.headers("DCT"))
    assert (status["released"], status["agencies"], status["pending"]) == (True, ["customs"], [])
    assert [e["agencies"] for e in container_events(run, "container.released", a)] == [["ciq", "customs"],
                                                                                         ["customs"]]
    ok(client.post(f"{API}/containers/{a}/gate-out", headers=world.headers("DCT")))


def test_a_consignment_that_has_left_shows_its_own_gate_out_not_the_container_s_next(client, world, clock):
    ids, a = left_with_its_goods(client, world, clock, seed=257)
    filing_id = ok(client.get(f"{API}/declarations/{ids['customs']}", headers=world.headers(ENT)))["filing_id"]
    (left,) = ok(client.get(f"{API}/filings/{filing_id}", headers=world.headers(ENT)))["gate_outs"]
    number = ok(client.get(f"{API}/declarations/{ids['customs']}", headers=world.headers("0916")))["number"]
    public = ok(client.get(f"{API}/public/status", params={"number": number}))
    assert public["gated_out_at"] == left["gated_out_at"]
    _, again, _ = accepted_filing(client, world, seed=258, enterprise=OTHER, numbers=[a], arrive=False,
                                  accept=("customs",))
    no_inspection(client, world, again, "customs")
    released(client, world, again, "customs")
    clock.advance(hours=3)
    ok(client.post(f"{API}/containers/{a}/gate-out", headers=world.headers("DCT")))  # the next consignment's
    assert ok(client.get(f"{API}/filings/{filing_id}", headers=world.headers(ENT)))["gate_outs"] == [left]
    assert ok(client.get(f"{API}/public/status", params={"number": number}))["gated_out_at"] == left["gated_out_at"]


def test_the_parties_of_a_consignment_that_has_left_do_not_see_the_container_s_next_visit(client, world, clock):
    ids, a = left_with_its_goods(client, world, clock, seed=253)
    _, again, _ = accepted_filing(client, world, seed=254, enterprise=OTHER, numbers=[a], arrive=False,
                                  accept=("customs",))
    for who in (ENT, "210600"):  # the enterprise and CIQ office of the consignment gone, with nothing in this one
        assert error(client.get(f"{API}/containers/{a}/release", headers=world.headers(who)), 404)["code"] == \
            "not_found", who
    no_inspection(client, world, again, "customs")
    released(client, world, again, "customs")
    # the enterprise was told of its own consignment's release and gate-out, not of the next one's
    assert [t for t in feed_types(client, world, ENT) if t.startswith("container.")] == [
        "container.released", "container.gated_out"]
    assert feed_types(client, world, OTHER).count("container.released") == 1


def test_no_hold_on_a_consignment_whose_container_left_and_came_back(client, world, clock):
    ids, a = left_with_its_goods(client, world, clock, seed=255)
    for agency in ("customs", "ciq"):
        err = error(client.post(f"{API}/declarations/{ids[agency]}/revoke-release", json={"reason": "too late"},
                                headers=world.headers(OFFICES[agency])), 409)
        assert err["code"] == "gated_out"
    status = container(client, a, world.headers("DCT"))
    assert (status["released"], status["agencies"], status["pending"]) == (False, [], [])


def test_a_late_declaration_of_a_consignment_that_has_left_does_not_inspect_the_container_back(client, world, run,
                                                                                                clock):
    _, ids, (a,) = accepted_filing(client, world, seed=256, containers=1, submit=("customs",), accept=("customs",))
    no_inspection(client, world, ids, "customs")
    released(client, world, ids, "customs")
    clock.advance(hours=2)
    ok(client.post(f"{API}/containers/{a}/gate-out", headers=world.headers("DCT")))  # CIQ had not accepted yet
    clock.advance(days=7)
    discharge(client, world, [a])  # back with other goods
    clock.advance(hours=1)
    filing_id = ok(client.get(f"{API}/declarations/{ids['ciq']}", headers=world.headers(ENT)))["filing_id"]
    ok(client.post(f"{API}/filings/{filing_id}/submit", json={"agencies": ["ciq"]}, headers=world.headers(ENT)))
    ok(client.post(f"{API}/declarations/{ids['ciq']}/accept", headers=world.headers("210600")))
    status = container(client, a, world.headers("DCT"))
    assert (status["released"], status["agencies"], status["pending"]) == (False, [], [])
    refused = error(client.post(f"{API}/declarations/{ids['ciq']}/decision",
                                json={"inspect": True, "containers": [a], "kind": "sampling"},
                                headers=world.headers("210600")), 409)
    assert refused["code"] == "gated_out" and a in refused["message"]
    no_inspection(client, world, ids, "ciq")
    released(client, world, ids, "ciq")
    assert ok(client.get(f"{API}/terminal/tasks", headers=world.headers("DCT"))) == []
    assert len(container_events(run, "container.released", a)) == 1  # the first visit's, not this one's
    assert client.get(f"{API}/containers/{a}/release", headers=world.headers(ENT)).status_code == 404
