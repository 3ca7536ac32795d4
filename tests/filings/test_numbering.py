"""Receipt numbers: format, sequence per office and year, and no duplicates under concurrency."""

from __future__ import annotations

import re
import threading

import pytest
from hypothesis import given
from hypothesis import strategies as st

from onewindow.errors import Conflict
from onewindow.filings.numbering import format_number
from onewindow.samples import sample_entry


@given(office=st.from_regex(r"\A[0-9]{4}\Z"), year=st.integers(2000, 2099), seq=st.integers(1, 10**9 - 1),
       direction=st.sampled_from(["import", "export"]))
def test_customs_number_is_18_digits_office_year_flag_sequence(office, year, seq, direction):
    number = format_number("customs", office, direction, year, seq)
    assert re.fullmatch(r"[0-9]{18}", number)
    assert number[:4] == office and number[4:8] == str(year)
    assert number[8] == ("1" if direction == "import" else "0") and int(number[9:]) == seq


@given(office=st.from_regex(r"\A[0-9]{6}\Z"), year=st.integers(2000, 2099), seq=st.integers(1, 10**6 - 1),
       direction=st.sampled_from(["import", "export"]))
def test_ciq_number_is_15_digits_flag_office_year_sequence(office, year, seq, direction):
    number = format_number("ciq", office, direction, year, seq)
    assert re.fullmatch(r"[0-9]{15}", number)
    assert number[0] == ("1" if direction == "import" else "2")
    assert number[1:7] == office and number[7:9] == f"{year % 100:02d}" and int(number[9:]) == seq


def test_an_exhausted_range_is_a_conflict_not_a_wrong_number():
    with pytest.raises(Conflict):
        format_number("ciq", "210600", "import", 2026, 10**6)


def _filed_declarations(client, world, n: int) -> list[str]:
    ent = world.headers("91210200MA0QK1P3AF")
    ids = []
    for i in range(n):
        filing = client.post("/api/v1/filings", json=sample_entry(seed=100 + i, inspected=False), headers=ent).json()
        client.post(f"/api/v1/filings/{filing['id']}/submit", headers=ent)
        ids.append(filing["declarations"][0]["id"])
    return ids


def test_concurrent_acceptances_never_share_a_number(client, world):
    """Many officers of one office accepting at the same moment get distinct, gap-free numbers."""
    ids = _filed_declarations(client, world, 24)
    headers = world.headers("0916")
    numbers: list[str] = []
    errors: list[str] = []
    barrier = threading.Barrier(8)

    def officer(chunk: list[str]) -> None:
        barrier.wait()
        for declaration_id in chunk:
            r = client.post(f"/api/v1/declarations/{declaration_id}/accept", headers=headers)
            (numbers if r.status_code == 200 else errors).append(r.json().get("number") or r.text)

    threads = [threading.Thread(target=officer, args=(ids[i::8],)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert sorted(int(n[9:]) for n in numbers) == list(range(1, 25))
