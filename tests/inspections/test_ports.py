"""A container at one port named by a consignment declared at another: each port's visit is its own.

A container is at one port at a time. A consignment declared at Dalian (its goods coming in a container that
is still at Qingdao, say) does not cover the container's stay at Qingdao: Qingdao's release of the goods it
carries there does not wait for Dalian's agencies, Dalian's parties neither see that stay nor are told of it,
and Dalian's agencies decide on the container and release it for the stay it makes at Dalian."""

from __future__ import annotations

from onewindow.samples import sample_entry
from tests.flows import API, ENT, OFFICES, OTHER, TERMINAL, error, file_entry, ok

QINGDAO = "CNQDG"


def qingdao_terminal(run) -> dict[str, str]:
    from onewindow.parties.service import add_organisation, ensure_user, issue_token

    def setup(ctx):
        org = add_organisation(ctx, kind="terminal", code="QQCT", name="青岛前湾集装箱码头", port=QINGDAO)
        return issue_token(ctx, ensure_user(ctx, org, "staff"))

    return {"Authorization": f"Bearer {run(setup)}"}


def _release_both(client, world, ids: dict[str, str]) -> None:
    for agency, office in OFFICES.items():
        ok(client.post(f"{API}/declarations/{ids[agency]}/decision", json={"inspect": False},
                       headers=world.headers(office)), 201)
        ok(client.post(f"{API}/declarations/{ids[agency]}/release", headers=world.headers(office)))


def _at_qingdao(client, world, run, seed: int) -> tuple[dict[str, str], str, dict[str, str]]:
    """A container discharged at Qingdao with a Qingdao consignment of the other enterprise in it, released
    there: (Qingdao's terminal headers, the container, that consignment's declarations)."""
    qqct = qingdao_terminal(run)
    entry = sample_entry(seed=seed, containers=1, consignee_uscc=OTHER, port=QINGDAO)
    (number,) = [c["number"] for c in entry["containers"]]
    ok(client.post(f"{API}/terminal/arrivals", json={"containers": [number]}, headers=qqct), 201)
    _, ids, _ = file_entry(client, world, entry, enterprise=OTHER, arrive=False)
    _release_both(client, world, ids)
    assert ok(client.get(f"{API}/containers/{number}/release", headers=qqct))["released"] is True
    return qqct, number, ids


def _dalian_consignment(client, world, number: str, seed: int) -> dict[str, str]:
    """A Dalian consignment of the first enterprise in ``number``, filed and accepted before it arrives."""
    entry = sample_entry(seed=seed, containers=1)
    entry["containers"] = [{"number": number, "size_type": "45R1"}]
    _, ids, _ = file_entry(client, world, entry, arrive=False)
    return ids


def test_a_consignment_declared_at_another_port_does_not_hold_the_container_where_it_is(client, world, run):
    qqct, number, _ = _at_qingdao(client, world, run, seed=401)
    ids = _dalian_consignment(client, world, number, seed=402)
    # Qingdao's release stands: Dalian's accepted declarations do not cover the stay at Qingdao
    status = ok(client.get(f"{API}/containers/{number}/release", headers=qqct))
    assert (status["released"], status["pending"]) == (True, []), status
    # Dalian's enterprise does not see the container at Qingdao, nor is it told of it
    assert client.get(f"{API}/containers/{number}/release", headers=world.headers(ENT)).status_code == 404
    feed = ok(client.get(f"{API}/events", params={"limit": 1000}, headers=world.headers(ENT)))["events"]
    assert not [e for e in feed if e["type"].startswith("container.")], feed
    # Dalian's agencies cannot inspect it before it arrives at Dalian
    err = error(client.post(f"{API}/declarations/{ids['customs']}/decision", headers=world.headers("0916"),
                            json={"inspect": True, "containers": [number], "kind": "physical", "reason": "R-1"}),
                409)
    assert err["code"] == "at_another_port" and number in err["message"]
    ok(client.post(f"{API}/containers/{number}/gate-out", headers=qqct))


def test_a_container_released_for_a_consignment_before_it_arrives_from_another_port_leaves_on_arrival(
        client, world, run):
    qqct, number, _ = _at_qingdao(client, world, run, seed=403)
    ids = _dalian_consignment(client, world, number, seed=404)
    _release_both(client, world, ids)  # released at Dalian while the container is still at Qingdao
    assert ok(client.get(f"{API}/containers/{number}/release", headers=qqct))["released"] is True
    ok(client.post(f"{API}/containers/{number}/gate-out", headers=qqct))
    dct = world.headers(TERMINAL)
    ok(client.post(f"{API}/terminal/arrivals", json={"containers": [number]}, headers=dct), 201)
    status = ok(client.get(f"{API}/containers/{number}/release", headers=dct))
    assert (status["released"], status["agencies"], status["pending"]) == (True, ["ciq", "customs"], []), status
    assert ok(client.get(f"{API}/containers/{number}/release", headers=world.headers(ENT)))["released"] is True
    released = [e for e in ok(client.get(f"{API}/events", params={"limit": 1000}, headers=world.headers(ENT)))[
        "events"] if e["type"] == "container.released"]
    assert [e["data"]["port"] for e in released] == ["CNDAG"]
    ok(client.post(f"{API}/containers/{number}/gate-out", headers=dct))


def test_a_container_from_another_port_is_decided_and_released_at_its_stay_here(client, world, run):
    qqct, number, _ = _at_qingdao(client, world, run, seed=405)
    ids = _dalian_consignment(client, world, number, seed=406)
    ok(client.post(f"{API}/containers/{number}/gate-out", headers=qqct))
    dct = world.headers(TERMINAL)
    ok(client.post(f"{API}/terminal/arrivals", json={"containers": [number]}, headers=dct), 201)
    assert ok(client.get(f"{API}/containers/{number}/release", headers=dct))["pending"] == ["ciq", "customs"]
    _release_both(client, world, ids)
    assert ok(client.get(f"{API}/containers/{number}/release", headers=dct))["released"] is True
    ok(client.post(f"{API}/containers/{number}/gate-out", headers=dct))


def test_decisions_at_two_ports_naming_one_container_are_not_matched_together(client, world, run):
    """Qingdao's customs wants the container opened there; Dalian's customs wants the consignment's other
    container, at Dalian. Two inspections, one at each port: the container at Qingdao is not Dalian's."""
    qqct = qingdao_terminal(run)
    entry = sample_entry(seed=407, containers=1, consignee_uscc=OTHER, port=QINGDAO)
    (away,) = [c["number"] for c in entry["containers"]]
    ok(client.post(f"{API}/terminal/arrivals", json={"containers": [away]}, headers=qqct), 201)
    _, qingdao, _ = file_entry(client, world, entry, enterprise=OTHER, arrive=False)
    ok(client.post(f"{API}/declarations/{qingdao['customs']}/decision", headers=world.headers("0916"),
                   json={"inspect": True, "containers": [away], "kind": "physical", "reason": "R-1"}), 201)
    dalian_entry = sample_entry(seed=408, containers=1)
    (here,) = [c["number"] for c in dalian_entry["containers"]]
    dalian_entry["containers"].append({"number": away, "size_type": "45R1"})
    ok(client.post(f"{API}/terminal/arrivals", json={"containers": [here]}, headers=world.headers(TERMINAL)), 201)
    _, dalian, _ = file_entry(client, world, dalian_entry, arrive=False)
    ok(client.post(f"{API}/declarations/{dalian['customs']}/decision", headers=world.headers("0916"),
                   json={"inspect": True, "containers": [here], "kind": "physical", "reason": "R-2"}), 201)
    ok(client.post(f"{API}/declarations/{dalian['ciq']}/decision", json={"inspect": False},
                   headers=world.headers("210600")), 201)
    # Dalian's decisions are matched without waiting for Qingdao's CIQ, which has not decided on its container
    found = ok(client.get(f"{API}/inspections", headers=world.headers("0916")))
    assert [(i["containers"], i["port"]) for i in found] == [([here], "CNDAG")]
    ok(client.post(f"{API}/declarations/{qingdao['ciq']}/decision", json={"inspect": False},
                   headers=world.headers("210600")), 201)
    found = ok(client.get(f"{API}/inspections", headers=world.headers("0916")))
    assert sorted((i["containers"], i["port"]) for i in found) == sorted([([away], QINGDAO), ([here], "CNDAG")])
