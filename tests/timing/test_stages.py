"""Each stage of real consignments (driven over HTTP, the clock moved between steps) against the hand-computed
time line; on SQLite and PostgreSQL."""

from __future__ import annotations

import uuid
from datetime import timedelta

from onewindow.timing import projection, service
from onewindow.timing.filters import FigureQuery


def released_without_inspection(flow, seed: int = 11):
    """Arrival 0:00; filed 2:00; customs accepts 3:00, CIQ 3:30; both decide 4:30 (no inspection);
    customs releases 6:30, CIQ 7:30 (combined release); A out 10:30, B out 11:30."""
    entry, (a, b) = flow.entry(seed)
    flow.arrive([a, b])
    flow.at(120)
    filing_id, ids = flow.file(entry)
    flow.at(60)
    flow.accept(ids["customs"], "0916")
    flow.at(30)
    flow.accept(ids["ciq"], "210600")
    flow.at(60)
    flow.decide(ids["customs"], "0916")
    flow.decide(ids["ciq"], "210600")
    flow.at(120)
    flow.release(ids["customs"], "0916")
    flow.at(60)
    flow.release(ids["ciq"], "210600")
    flow.at(180)
    flow.gate_out(a)
    flow.at(60)
    flow.gate_out(b)
    return filing_id, ids


def test_a_consignment_without_inspection(flow):
    filing_id, _ = released_without_inspection(flow)
    flow.project()
    assert flow.stages(filing_id) == {"arrival_to_filing": 2.0, "filing_to_release": 5.5, "release_to_gate_out": 4.0,
                                      "arrival_to_release": 7.5, "arrival_to_gate_out": 11.5}
    record, agencies = flow.record(filing_id)
    assert (record.inspection, record.inspections, record.complete, record.pre_arrival) == ("none", 0, True, False)
    assert (record.customs_office, record.ciq_office, record.port, record.credit_level) == (
        "0916", "210600", "CNDAG", "general")
    assert record.destination == "210200"  # the consignee's administrative division
    assert {a: r.filing_to_release_seconds / 3600 for a, r in agencies.items()} == {"customs": 4.5, "ciq": 5.5}
    assert (record.customs_filing_to_release_seconds, record.ciq_filing_to_release_seconds) == (4.5 * 3600,
                                                                                                5.5 * 3600)
    figures = flow.run(lambda ctx: service.figures(ctx, FigureQuery(), min_group=1))
    [group] = figures["groups"]
    assert group["consignments"] == 1 and group["complete"] == 1
    assert group["stages"]["arrival_to_gate_out"] == {"count": 1, "mean": 11.5, "median": 11.5, "p90": 11.5}
    assert group["agencies"]["customs"]["median"] == 4.5


def test_projection_is_idempotent_and_follows_each_step(flow, run):
    entry, (a, b) = flow.entry(12)
    flow.arrive([a, b])
    flow.at(30)
    filing_id, ids = flow.file(entry)
    flow.project()
    record, _ = flow.record(filing_id)
    assert record.arrival_to_filing_seconds == 1800 and record.released_at is None and not record.complete
    flow.project()  # nothing new: the same record
    again, _ = flow.record(filing_id)
    assert again.arrival_to_filing_seconds == 1800


def test_a_joint_inspection_with_a_no_show(flow):
    """Arrival 0:00, filed 1:00, both accept 1:00, customs decides 1:30 (A), CIQ 2:00 (A): joint, matched 2:00;
    relocated 3:00; booked for 5:00; customs checks in 5:00 (start); CIQ absent past the grace (5:31);
    customs result 6:00 (completed); CIQ adopts 6:30; customs releases 7:00, CIQ 7:30; A, B out 8:30."""
    entry, (a, b) = flow.entry(13)
    flow.arrive([a, b])
    flow.at(60)
    filing_id, ids = flow.file(entry)
    flow.accept(ids["customs"], "0916")
    flow.accept(ids["ciq"], "210600")
    flow.at(30)
    flow.decide(ids["customs"], "0916", [a])
    flow.at(30)
    flow.decide(ids["ciq"], "210600", [a])
    [joint] = flow.inspections(filing_id)
    assert joint["joint"]
    flow.at(60)
    flow.relocate_all()
    flow.book(joint["id"], minutes_ahead=120)
    flow.at(120)
    flow.check_in(joint["id"], "0916")
    flow.at(31)
    assert flow.absences() == 1
    flow.at(29)
    flow.result(joint["id"], "0916")
    flow.at(30)
    flow.post(f"/inspections/{joint['id']}/adopt", "210600")
    flow.at(30)
    flow.release(ids["customs"], "0916")
    flow.at(30)
    flow.release(ids["ciq"], "210600")
    flow.at(60)
    flow.gate_out(a)
    flow.gate_out(b)
    flow.project()
    assert flow.stages(filing_id) == {"arrival_to_filing": 1.0, "filing_to_release": 6.5,
                                      "release_to_gate_out": 1.0, "arrival_to_release": 7.5,
                                      "arrival_to_gate_out": 8.5}
    record, agencies = flow.record(filing_id)
    assert (record.inspection, record.inspections, record.no_shows, record.inspection_place) == (
        "joint", 1, 1, "CNDAG")
    start = record.arrived_at
    assert [(getattr(record, m) - start).total_seconds() / 3600 for m in (
        "decided_at", "matched_at", "relocated_at", "inspection_started_at", "inspection_completed_at")] == [
        2.0, 2.0, 3.0, 5.0, 6.0]
    assert {a: r.filing_to_release_seconds / 3600 for a, r in agencies.items()} == {"customs": 6.0, "ciq": 6.5}


def test_a_late_decision_gets_its_own_inspection(flow, run, clock):
    """Customs decides at 0:30 (A); CIQ has not decided when the window closes (2:30): customs inspects alone,
    starts 3:30; CIQ decides at 4:00, after the start: a single inspection of its own, done 6:00."""
    from onewindow.inspections import service as inspections

    entry, (a, b) = flow.entry(14)
    flow.arrive([a, b])
    filing_id, ids = flow.file(entry)  # filed at arrival: the trader's stage is 0
    flow.accept(ids["customs"], "0916")
    flow.accept(ids["ciq"], "210600")
    flow.at(30)
    flow.decide(ids["customs"], "0916", [a])
    flow.at(120)
    assert run(inspections.run_due) == 1
    [first] = flow.inspections(filing_id)
    flow.relocate_all()
    flow.book(first["id"], minutes_ahead=60)
    flow.at(60)
    flow.check_in(first["id"], "0916")
    flow.at(30)
    flow.decide(ids["ciq"], "210600", [a])
    late = [i for i in flow.inspections(filing_id) if i["id"] != first["id"]][0]
    assert late["agencies"] == ["ciq"] and not late["joint"]
    flow.result(first["id"], "0916")
    flow.relocate_all()
    flow.book(late["id"])
    flow.check_in(late["id"], "210600")
    flow.at(120)
    flow.result(late["id"], "210600")
    flow.release(ids["ciq"], "210600")
    flow.release(ids["customs"], "0916")
    flow.project()
    record, _ = flow.record(filing_id)
    assert (record.inspection, record.inspections, record.no_shows) == ("single", 2, 0)
    assert flow.stages(filing_id) == {"arrival_to_filing": 0.0, "filing_to_release": 6.0,
                                      "release_to_gate_out": None, "arrival_to_release": 6.0,
                                      "arrival_to_gate_out": None}
    assert not record.complete


def test_a_rejected_declaration_keeps_its_first_filing(flow, client, world):
    """Filed 1:00 (after arrival); customs rejects 2:00; corrected and filed again 4:00; accepted 5:00;
    no inspection; released 6:00; out 7:00. The rework counts in the agencies' stage."""
    entry, (a, b) = flow.entry(15, inspected=False)
    flow.arrive([a, b])
    flow.at(60)
    filing_id, ids = flow.file(entry)
    flow.at(60)
    flow.post(f"/declarations/{ids['customs']}/reject", "0916", {"reason": "invoice and packing list differ"})
    flow.at(120)
    patched = client.patch(f"/api/v1/filings/{filing_id}", json={"remarks": "packing list corrected"},
                           headers=world.headers("91210200MA0QK1P3AF"))
    assert patched.status_code == 200, patched.text
    flow.post(f"/filings/{filing_id}/submit", "91210200MA0QK1P3AF")
    flow.at(60)
    flow.accept(ids["customs"], "0916")
    flow.decide(ids["customs"], "0916")
    flow.at(60)
    flow.release(ids["customs"], "0916")
    flow.at(60)
    flow.gate_out(a)
    flow.gate_out(b)
    flow.project()
    assert flow.stages(filing_id) == {"arrival_to_filing": 1.0, "filing_to_release": 5.0,
                                      "release_to_gate_out": 1.0, "arrival_to_release": 6.0,
                                      "arrival_to_gate_out": 7.0}
    record, agencies = flow.record(filing_id)
    assert record.rejections == 1 and agencies["customs"].rejections == 1 and set(agencies) == {"customs"}
    assert record.ciq_office is None


def test_a_revoked_release_counts_from_the_release_in_force(flow):
    """Released 2:00 (both, no inspection); CIQ holds it 3:00; CIQ releases again 5:00; out 6:00."""
    entry, (a, b) = flow.entry(16)
    flow.arrive([a, b])
    filing_id, ids = flow.file(entry)
    for agency, office in (("customs", "0916"), ("ciq", "210600")):
        flow.accept(ids[agency], office)
        flow.decide(ids[agency], office)
    flow.at(120)
    flow.release(ids["customs"], "0916")
    flow.release(ids["ciq"], "210600")
    flow.project()
    assert flow.stages(filing_id)["arrival_to_release"] == 2.0
    flow.at(60)
    flow.post(f"/declarations/{ids['ciq']}/revoke-release", "210600", {"reason": "laboratory result pending"})
    flow.project()
    record, agencies = flow.record(filing_id)
    assert record.released_at is None and agencies["ciq"].released_at is None
    flow.at(120)
    flow.release(ids["ciq"], "210600")
    flow.at(60)
    flow.gate_out(a)
    flow.gate_out(b)
    flow.project()
    assert flow.stages(filing_id) == {"arrival_to_filing": 0.0, "filing_to_release": 5.0,
                                      "release_to_gate_out": 1.0, "arrival_to_release": 5.0,
                                      "arrival_to_gate_out": 6.0}
    _, agencies = flow.record(filing_id)
    assert {a: r.filing_to_release_seconds / 3600 for a, r in agencies.items()} == {"customs": 2.0, "ciq": 5.0}


def test_a_declaration_filed_before_arrival(flow):
    """Filed 0:00, accepted and released (no inspection) 1:00; the ship arrives 3:00; out 4:00: the trader's
    and the agencies' stages are 0 from arrival, the port's 1 h."""
    entry, (a, b) = flow.entry(17, inspected=False)
    filing_id, ids = flow.file(entry)
    flow.at(60)
    flow.accept(ids["customs"], "0916")
    flow.decide(ids["customs"], "0916")
    flow.release(ids["customs"], "0916")
    flow.project()
    record, agencies = flow.record(filing_id)
    assert record.arrived_at is None and record.filing_to_release_seconds == 3600
    flow.at(120)
    flow.arrive([a, b])
    flow.at(60)
    flow.gate_out(a)
    flow.gate_out(b)
    flow.project()
    record, _ = flow.record(filing_id)
    assert record.pre_arrival
    assert flow.stages(filing_id) == {"arrival_to_filing": 0.0, "filing_to_release": 0.0,
                                      "release_to_gate_out": 1.0, "arrival_to_release": 0.0,
                                      "arrival_to_gate_out": 1.0}
    assert record.started_at == record.filed_at


def test_the_public_figures_of_real_consignments_name_nothing_of_them(flow, client):
    """Six real consignments (one inspected for a confidential reason): the public sees their figures and
    nothing that identifies one of them."""
    secrets = {"91210200MA0QK1P3AF", "大连远洋食品贸易有限公司", "risk rule R-17"}
    for seed in range(31, 37):
        entry, (a, b) = flow.entry(seed, inspected=False)
        flow.arrive([a, b])
        flow.at(60)
        filing_id, ids = flow.file(entry)
        secrets |= {a, b, filing_id, ids["customs"], entry["bill_of_lading"]}
        flow.accept(ids["customs"], "0916")
        if seed == 31:
            flow.decide(ids["customs"], "0916", [a])
            [inspection] = flow.inspections(filing_id)
            flow.relocate_all()
            flow.book(inspection["id"])
            flow.check_in(inspection["id"], "0916")
            flow.result(inspection["id"], "0916")
        else:
            flow.decide(ids["customs"], "0916")
        flow.at(30)
        flow.release(ids["customs"], "0916")
        flow.gate_out(a)
        flow.gate_out(b)
        declaration = client.get(f"/api/v1/declarations/{ids['customs']}", headers=flow.world.headers("0916")).json()
        secrets.add(declaration["number"])
    flow.project()
    answer = client.get("/api/v1/public/clearance-times", params={"group_by": "inspection"})
    as_csv = client.get("/api/v1/public/clearance-times.csv", params={"group_by": "inspection"})
    assert answer.status_code == as_csv.status_code == 200
    groups = {g["key"]["inspection"]: g for g in answer.json()["groups"]}
    assert groups["single"] == {"key": {"inspection": "single"}, "suppressed": True}  # one consignment
    assert groups["none"]["consignments"] == 5
    assert groups["none"]["stages"]["arrival_to_gate_out"] == {"count": 5, "mean": 1.5, "median": 1.5, "p90": 1.5}
    for text in (answer.text, as_csv.text):
        assert not [s for s in secrets if s in text]
    whole = client.get("/api/v1/public/clearance-times").json()["groups"][0]
    assert whole["consignments"] == 6 and whole["stages"]["arrival_to_filing"]["median"] == 1.0


def _shared_container(flow):
    """Consignment A files with container Y at 0:30 (Y arrived 0:00); customs accepts it and releases it (no
    inspection) at 1:00. Consignment C is filed naming Y at 1:30 (customs only, not accepted yet). Returns
    (A, C's declarations, Y, the time of 0:00)."""
    entry_a, [y] = flow.entry(71, containers=1, inspected=False)
    entry_c, _ = flow.entry(72, containers=1, inspected=False)
    entry_c["containers"] = entry_a["containers"]
    start = flow.clock.now()
    flow.arrive([y])
    flow.at(30)
    a, ids_a = flow.file(entry_a)
    flow.at(30)
    flow.accept(ids_a["customs"], "0916")
    flow.decide(ids_a["customs"], "0916")
    flow.release(ids_a["customs"], "0916")
    flow.at(30)
    c, ids_c = flow.file(entry_c)
    return a, c, ids_c, y, start


def _times(record):
    return record.arrived_at, record.filed_at, record.released_at, record.gated_out_at, record.complete


def test_a_container_back_for_another_consignment_is_measured_on_its_own_visit(flow):
    """Y leaves with A's goods at 2:30, before C's declaration is accepted: that visit is not C's. Y comes back
    at 4:30 with C's goods; C accepted 5:00, released 6:00, Y out 6:45. C is measured on the second visit (a
    pre-arrival filing), never on A's arrival, release or gate-out."""
    a, c, ids_c, y, start = _shared_container(flow)
    at = lambda minutes: start + timedelta(minutes=minutes)  # noqa: E731
    flow.project()
    assert _times(flow.record(c)[0]) == (at(0), at(90), None, None, False)  # A's release is not C's
    flow.at(60)
    flow.gate_out(y)  # A's goods leave
    flow.project()
    assert _times(flow.record(a)[0]) == (at(0), at(30), at(60), at(150), True)
    assert _times(flow.record(c)[0]) == (None, at(90), None, None, False)
    flow.at(120)
    flow.arrive([y])  # C's goods
    flow.project()
    assert _times(flow.record(c)[0]) == (at(270), at(90), None, None, False)
    flow.at(30)
    flow.accept(ids_c["customs"], "0916")
    flow.decide(ids_c["customs"], "0916")
    flow.at(60)
    flow.release(ids_c["customs"], "0916")
    flow.at(45)
    flow.gate_out(y)
    flow.project()
    record, _ = flow.record(c)
    assert _times(record) == (at(270), at(90), at(360), at(405), True) and record.pre_arrival
    assert flow.stages(c) == {"arrival_to_filing": 0.0, "filing_to_release": 1.5, "release_to_gate_out": 0.75,
                              "arrival_to_release": 1.5, "arrival_to_gate_out": 2.25}
    flow.at(60)
    flow.arrive([y])  # Y back once more, for nobody's goods here: C has left in it
    flow.project()
    again = flow.run(lambda ctx: projection.study_rows(ctx, [uuid.UUID(c)]).records[0])
    assert (again["arrived_at"], again["released_at"], again["gated_out_at"]) == (at(270), at(360), at(405))
    assert _times(flow.record(a)[0]) == (at(0), at(30), at(60), at(150), True)


def test_a_consignment_accepted_while_its_container_is_in_port_is_measured_on_that_visit(flow):
    """C's declaration is accepted at 2:00 while Y is still in port (A's and C's goods in one container): the
    container waits for C again and is released with C at 3:00, out 3:30; both are measured on that visit."""
    a, c, ids_c, y, start = _shared_container(flow)
    at = lambda minutes: start + timedelta(minutes=minutes)  # noqa: E731
    flow.at(30)
    flow.accept(ids_c["customs"], "0916")
    flow.decide(ids_c["customs"], "0916")
    flow.project()
    assert _times(flow.record(c)[0]) == (at(0), at(90), None, None, False)
    flow.at(60)
    flow.release(ids_c["customs"], "0916")
    flow.at(30)
    flow.gate_out(y)
    flow.project()
    assert _times(flow.record(c)[0]) == (at(0), at(90), at(180), at(210), True)
    assert _times(flow.record(a)[0]) == (at(0), at(30), at(180), at(210), True)
