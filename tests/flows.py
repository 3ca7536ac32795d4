"""What the HTTP tests of inspections, releases and clearance times do alike: the demo parties' codes, the
answer checks, and a consignment brought over the API to where a test starts (discharged, filed, submitted,
accepted)."""

from __future__ import annotations

from typing import Any

from onewindow.samples import sample_entry

API = "/api/v1"
ENT = "91210200MA0QK1P3AF"
"""The first demo enterprise (the sample entries' consignee)."""
OTHER = "91210211MA0XY7L2XK"
"""The second demo enterprise."""
OFFICES = {"customs": "0916", "ciq": "210600"}
"""Each agency's office named by the sample entries."""
TERMINAL = "DCT"


def ok(answer, status: int = 200) -> Any:
    """The JSON of ``answer``, which must have ``status``."""
    assert answer.status_code == status, answer.text
    return answer.json()


def error(answer, status: int) -> dict:
    """The error object of ``answer``, which must have ``status``."""
    assert answer.status_code == status, answer.text
    return answer.json()["error"]


def discharge(client, world, numbers: list[str], conveyance: dict | None = None) -> None:
    """The terminal records the discharge of ``numbers``."""
    body = {"containers": numbers} | ({"conveyance": conveyance} if conveyance else {})
    ok(client.post(f"{API}/terminal/arrivals", json=body, headers=world.headers(TERMINAL)), 201)


def file_entry(client, world, entry: dict, *, enterprise: str = ENT, arrive: bool = True,
               submit: bool | tuple[str, ...] = True,
               accept: tuple[str, ...] = ("customs", "ciq")) -> tuple[str, dict[str, str], list[str]]:
    """``entry`` filed by ``enterprise`` over HTTP: its containers discharged first (``arrive``), its
    parts submitted (``submit``: all of them when true, none when false or empty, else the agencies named) and
    accepted by the named agencies' offices. Returns (filing id, {agency: declaration id}, container numbers)."""
    numbers = [c["number"] for c in entry["containers"]]
    if arrive:
        discharge(client, world, numbers, entry.get("conveyance"))
    filing = ok(client.post(f"{API}/filings", json=entry, headers=world.headers(enterprise)), 201)
    ids = {d["agency"]: d["id"] for d in filing["declarations"]}
    if submit is True:
        ok(client.post(f"{API}/filings/{filing['id']}/submit", headers=world.headers(enterprise)))
    elif submit:
        ok(client.post(f"{API}/filings/{filing['id']}/submit", json={"agencies": [a for a in submit if a in ids]},
                       headers=world.headers(enterprise)))
    for agency in accept:
        if agency in ids:
            ok(client.post(f"{API}/declarations/{ids[agency]}/accept", headers=world.headers(OFFICES[agency])))
    return filing["id"], ids, numbers


def accepted_filing(client, world, *, seed: int, containers: int = 3, enterprise: str = ENT,
                    inspected: bool = True, numbers: list[str] | None = None, **steps
                    ) -> tuple[str, dict[str, str], list[str]]:
    """A sample consignment of ``enterprise`` (``containers`` containers, or these ``numbers``; goods that
    need inspection when ``inspected``) taken through :func:`file_entry` with ``steps`` (by default:
    discharged, submitted, accepted by customs and CIQ)."""
    entry = sample_entry(seed=seed, containers=containers, inspected=inspected, consignee_uscc=enterprise)
    if numbers is not None:
        entry["containers"] = [{"number": n, "size_type": "45R1"} for n in numbers]
    return file_entry(client, world, entry, enterprise=enterprise, **steps)
