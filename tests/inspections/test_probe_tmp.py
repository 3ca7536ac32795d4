import pytest
from onewindow.samples import sample_entry
ENT = "91210200MA0QK1P3AF"
API = "/api/v1"

def ok(a, s=200):
    assert a.status_code == s, a.text
    return a.json()

def test_probe(client, world):
    entry = sample_entry(seed=5, containers=2)
    n = [c["number"] for c in entry["containers"]]
    f = ok(client.post(f"{API}/filings", json=entry, headers=world.headers(ENT)), 201)
    ok(client.post(f"{API}/filings/{f['id']}/submit", headers=world.headers(ENT)))
    ids = {d["agency"]: d["id"] for d in f["declarations"]}
    ok(client.post(f"{API}/declarations/{ids['customs']}/accept", headers=world.headers("0916")))
    url = f"{API}/declarations/{ids['customs']}/decision"
    for body in ({"inspect": True, "containers": [["x"]], "kind": "physical"},
                 {"inspect": True, "containers": [{"number": n[0]}], "kind": "physical"},
                 {"inspect": True, "containers": n[0], "kind": "physical"},
                 {"inspect": True, "containers": [n[0]], "kind": ["physical"]},
                 {"inspect": True, "containers": [n[0]], "kind": "physical", "reason": ["r"]},
                 {"inspect": True, "containers": [n[0]], "kind": "physical", "reason": "r" * 1001},
                 ):
        try:
            r = client.post(url, json=body, headers=world.headers("0916"))
            print("RESULT", body, r.status_code, r.text[:300])
        except Exception as e:
            print("RESULT", body, "EXC", repr(e)[:300])
    assert 0
