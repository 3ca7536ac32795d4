"""Figures computed from a run's records."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from onewindow.simulator.measure import Records, Stat, figures

T = datetime.fromisoformat("2026-03-02T08:00:00+08:00")


def at(hours: float) -> str:
    return (T + timedelta(hours=hours)).isoformat()


def inspection(id_, containers, agencies, started=True, absent=()):
    return {"id": id_, "containers": containers, "agencies": agencies, "joint": len(agencies) > 1,
            "started_at": at(5) if started else None,
            "results": [{"agency": a, "checked_in_at": None if a in absent or not started else at(5)}
                        for a in agencies]}


def detail(created, containers, declarations, releases, gate_outs, inspections=()):
    return {"created_at": at(created), "data": {"containers": [{"number": n} for n in containers]},
            "declarations": [{"id": d} for d in declarations],
            "releases": [{"declaration_id": d, "released_at": at(h), "revoked_at": at(r) if r else None}
                         for d, h, r in releases],
            "gate_outs": [{"container": n, "gated_out_at": at(h)} for n, h in gate_outs],
            "inspections": list(inspections)}


def test_counts_and_times():
    joint = inspection("i1", ["A", "B"], ["ciq", "customs"])
    records = Records(details=[
        # arrival at 0 and 1; filed at 2; released at 4 (customs) and 10 (CIQ; its first release at 6 revoked at 7)
        detail(2, ["A", "B"], ["c1", "q1"], [("c1", 4, None), ("q1", 6, 7), ("q1", 10, None)],
               [("A", 11), ("B", 12)], [joint]),
        # one agency absent, one container; filed at 3, released at 5, gated out at 8
        detail(3, ["C"], ["c2"], [("c2", 5, None)], [("C", 8)],
               [inspection("i2", ["C"], ["ciq", "customs"], absent=("ciq",)),
                inspection("i3", ["C"], ["customs"], started=False)]),
        # not yet released nor gated out
        detail(3, ["D"], ["c3"], [], []),
    ], arrivals={"A": [T + timedelta(hours=-100), T], "B": [T + timedelta(hours=1)], "C": [T], "D": [T]})
    f = figures(records, failures=1)
    assert (f.consignments, f.gated_out, f.containers, f.failures) == (3, 2, 4, 1)
    assert (f.inspections, f.joint_inspections, f.containers_opened, f.checkins) == (2, 2, 3, 3)
    assert f.arrival_to_gate_out == Stat(count=2, mean=10.0, median=10.0, p90=pytest.approx(11.6))
    assert f.filing_to_release == Stat(count=2, mean=5.0, median=5.0, p90=pytest.approx(7.4))


def test_a_shared_inspection_is_counted_once():
    shared = inspection("i1", ["A", "B"], ["ciq", "customs"])
    records = Records(details=[detail(1, ["A"], ["c1"], [], [], [shared]), detail(1, ["B"], ["c2"], [], [], [shared])],
                      arrivals={})
    f = figures(records)
    assert (f.inspections, f.containers_opened, f.checkins) == (1, 2, 2)
    assert f.arrival_to_gate_out == Stat(0, None, None, None)


def test_stat_of_one_value():
    assert Stat.of([3.0]) == Stat(1, 3.0, 3.0, 3.0)
