"""The whole one-declaration flow over HTTP, end to end."""

from onewindow.samples import sample_entry


def test_enter_once_file_and_receive_receipts(client, world):
    ent, customs, ciq = world.headers("91210200MA0QK1P3AF"), world.headers("0916"), world.headers("210600")
    created = client.post("/api/v1/filings", json=sample_entry(seed=1), headers=ent)
    assert created.status_code == 201, created.text
    filing = created.json()
    assert [d["agency"] for d in filing["declarations"]] == ["ciq", "customs"]
    submitted = client.post(f"/api/v1/filings/{filing['id']}/submit", headers=ent)
    assert submitted.status_code == 200, submitted.text
    assert submitted.json()["status"] == "filed"
    queue = client.get("/api/v1/declarations?status=submitted", headers=customs).json()
    assert [d["agency"] for d in queue] == ["customs"]
    accepted = client.post(f"/api/v1/declarations/{queue[0]['id']}/accept", headers=customs).json()
    assert accepted["status"] == "accepted" and len(accepted["number"]) == 18
    assert accepted["number"] == "091620261000000001"
    ciq_queue = client.get("/api/v1/declarations?status=submitted", headers=ciq).json()
    ciq_accepted = client.post(f"/api/v1/declarations/{ciq_queue[0]['id']}/accept", headers=ciq).json()
    assert ciq_accepted["number"] == "121060026000001"
    seen = client.get(f"/api/v1/filings/{filing['id']}", headers=ent).json()
    assert {d["agency"]: d["receipt"]["number"] for d in seen["declarations"]} == {
        "customs": accepted["number"], "ciq": ciq_accepted["number"]}
