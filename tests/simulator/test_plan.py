"""The planned traffic: deterministic for its options, real codes, options checked."""

from __future__ import annotations

import pytest
from stdnum import iso6346

from onewindow.refdata.catalogue import get_catalogue
from onewindow.refdata.validators import check_hs_code
from onewindow.simulator.plan import CONSIGNMENTS_PER_VESSEL, OptionError, Options, plan_traffic


def test_same_options_same_traffic_other_seed_other_traffic():
    a, b = plan_traffic(Options(consignments=30, seed=5)), plan_traffic(Options(consignments=30, seed=5))
    assert a == b
    assert plan_traffic(Options(consignments=30, seed=6)).consignments != a.consignments


def test_a_consignment_does_not_depend_on_how_many_follow():
    few, many = plan_traffic(Options(consignments=5, seed=3)), plan_traffic(Options(consignments=40, seed=3))
    assert few.consignments == many.consignments[:5]


def test_real_codes_and_unique_containers():
    traffic = plan_traffic(Options(consignments=120, containers_per_filing=3, seed=9))
    numbers = [n for c in traffic.consignments for n in c.containers]
    assert len(numbers) == len(set(numbers)) == 360
    assert all(iso6346.is_valid(n) for n in numbers)
    catalogue = get_catalogue()
    for c in traffic.consignments:
        codes = [i["hs_code"] for i in c.entry["items"]]
        assert all(check_hs_code(code) is None for code in codes)
        needs_ciq = any(catalogue.needs_inspection(code) for code in codes)
        assert needs_ciq == ("ciq" in c.agencies)  # the platform will make a CIQ declaration exactly then
        assert all(abs(i["total_price"] - i["quantity"] * i["unit_price"]) < 0.01 for i in c.entry["items"])
    assert 0 < sum("ciq" in c.agencies for c in traffic.consignments) < 120
    assert [len(v.consignments) for v in traffic.vessels] == [CONSIGNMENTS_PER_VESSEL] * 15
    arrivals = [v.arrival for v in traffic.vessels]
    assert arrivals == sorted(arrivals)


def test_rates_shape_the_decisions():
    none = plan_traffic(Options(consignments=50, customs_rate=0, ciq_rate=0, reject_rate=0, no_show_rate=0))
    assert not any(p.inspect or p.reject or p.no_show for c in none.consignments for p in c.agencies.values())
    every = plan_traffic(Options(consignments=50, customs_rate=1, ciq_rate=1, reject_rate=1, no_show_rate=1))
    assert all(p.inspect and p.reject and p.no_show for c in every.consignments for p in c.agencies.values())


@pytest.mark.parametrize("changes, named", [
    ({"consignments": 0}, "--consignments"), ({"containers_per_filing": 0}, "--containers-per-filing"),
    ({"speed": 0.5}, "--speed"), ({"customs_rate": 1.5}, "--customs-rate"), ({"ciq_rate": -0.1}, "--ciq-rate"),
    ({"no_show_rate": 2}, "--no-show-rate"), ({"reject_rate": -1}, "--reject-rate"),
    ({"concurrency": 0}, "--concurrency")])
def test_bad_options_are_named(changes, named):
    with pytest.raises(OptionError, match=named):
        Options(**changes)


def test_every_bad_option_at_once():
    with pytest.raises(OptionError) as caught:
        Options(consignments=-1, ciq_rate=3)
    assert "--consignments" in str(caught.value) and "--ciq-rate" in str(caught.value)
