"""One error shape everywhere: ``{"error": {"code", "message", "details"}}``."""

from __future__ import annotations

import json
import uuid

import pytest
from fastapi.testclient import TestClient

from onewindow.samples import sample_entry

ENTERPRISE = "91210200MA0QK1P3AF"


def error_of(answer, status: int) -> dict:
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"].startswith("application/json")
    doc = answer.json()
    assert set(doc) == {"error"}
    assert set(doc["error"]) == {"code", "message", "details"}
    assert isinstance(doc["error"]["message"], str) and doc["error"]["message"]
    assert isinstance(doc["error"]["details"], list)
    return doc["error"]


@pytest.mark.parametrize("path", ["/nope", "/api/v1/nope", "/api/v2/filings", "/api/v1/filings/x/y/z"])
def test_an_unknown_route_is_404(client, world, path):
    for headers in ({}, world.headers(ENTERPRISE)):
        error = error_of(client.get(path, headers=headers), 404)
        assert error["code"] == "not_found" and error["details"] == []


@pytest.mark.parametrize("path", [f"/api/v1/filings/{uuid.UUID(int=1)}", "/api/v1/filings/not-a-uuid",
                                  f"/api/v1/declarations/{uuid.UUID(int=2)}"])
def test_a_record_that_does_not_exist_is_404(client, world, path):
    error = error_of(client.get(path, headers=world.headers(ENTERPRISE)), 404)
    assert error["code"] == "not_found"


def test_another_enterprises_filing_is_404(client, world):
    created = client.post("/api/v1/filings", json=sample_entry(seed=1), headers=world.headers(ENTERPRISE))
    assert created.status_code == 201
    other = world.headers("91210211MA0XY7L2XK")
    error = error_of(client.get(f"/api/v1/filings/{created.json()['id']}", headers=other), 404)
    assert error["code"] == "not_found"


@pytest.mark.parametrize(("method", "path"), [
    ("DELETE", "/healthz"), ("PUT", "/api/v1/filings"), ("DELETE", "/api/v1/me"), ("POST", "/api/v1/organisations"),
])
def test_a_wrong_method_is_405(client, world, method, path):
    error = error_of(client.request(method, path, headers=world.headers(ENTERPRISE)), 405)
    assert error["code"] == "method_not_allowed"


def test_a_405_names_the_allowed_methods(client):
    answer = client.delete("/healthz")
    assert answer.status_code == 405
    assert "GET" in answer.headers.get("allow", "")


@pytest.mark.parametrize(("path", "methods"), [("/api/v1/filings", {"GET", "POST"}),
                                               (f"/api/v1/filings/{uuid.UUID(int=3)}", {"GET", "PATCH"})])
def test_a_405_names_every_method_of_the_path_not_only_the_first_route_s(client, world, path, methods):
    answer = client.put(path, headers=world.headers(ENTERPRISE))
    assert answer.status_code == 405
    assert methods <= set(answer.headers["allow"].split(", ")), answer.headers["allow"]


@pytest.mark.parametrize("body", [b"{bad", b'{"direction": "import",}', b"\xff\xfe"])
def test_an_invalid_json_body_is_422_naming_the_body(client, world, body):
    answer = client.post("/api/v1/filings", content=body, headers={**world.headers(ENTERPRISE),
                                                                   "Content-Type": "application/json"})
    error = error_of(answer, 422)
    assert error["code"] == "validation_failed"
    assert len(error["details"]) == 1
    assert "body" in error["details"][0]["msg"]


def test_a_missing_body_is_422_naming_the_body(client, world):
    answer = client.post("/api/v1/filings", content=b"", headers={**world.headers(ENTERPRISE),
                                                                  "Content-Type": "application/json"})
    error = error_of(answer, 422)
    assert [d["loc"] for d in error["details"]] == [["body"]]
    assert "body" in error["details"][0]["msg"]


def test_a_body_that_is_not_json_is_422_before_authentication(client):
    error = error_of(client.post("/api/v1/filings", content=b"{bad",
                                 headers={"Content-Type": "application/json"}), 422)
    assert error["details"][0]["msg"] == "the body is not valid JSON"


def test_an_invalid_json_body_detail_points_at_the_body_not_at_an_offset(client, world):
    answer = client.post("/api/v1/filings", content=b"{bad", headers={**world.headers(ENTERPRISE),
                                                                      "Content-Type": "application/json"})
    [detail] = answer.json()["error"]["details"]
    assert detail["loc"] in ([], ["body"])


def test_a_json_body_of_the_wrong_type_is_422_at_the_root(client, world):
    answer = client.post("/api/v1/filings", json=[sample_entry(seed=1)], headers=world.headers(ENTERPRISE))
    error = error_of(answer, 422)
    assert [d["loc"] for d in error["details"]] == [[]]


def test_an_invalid_entry_names_each_bad_field(client, world):
    entry = sample_entry(seed=2)
    entry["containers"][1]["number"] = entry["containers"][1]["number"][:-1] + (
        "0" if entry["containers"][1]["number"][-1] != "0" else "1")
    entry["items"][0]["origin_country"] = "XXX"
    answer = client.post("/api/v1/filings", json=entry, headers=world.headers(ENTERPRISE))
    error = error_of(answer, 422)
    locs = [d["loc"] for d in error["details"]]
    assert ["containers", 1, "number"] in locs and ["items", 0, "origin_country"] in locs
    assert all(isinstance(d["msg"], str) and d["msg"] for d in error["details"])


def test_a_reject_without_reason_is_422_naming_reason(client, world):
    created = client.post("/api/v1/filings", json=sample_entry(seed=3), headers=world.headers(ENTERPRISE)).json()
    client.post(f"/api/v1/filings/{created['id']}/submit", headers=world.headers(ENTERPRISE))
    customs = next(d["id"] for d in created["declarations"] if d["agency"] == "customs")
    error = error_of(client.post(f"/api/v1/declarations/{customs}/reject", json={},
                                 headers=world.headers("0916")), 422)
    assert [d["loc"] for d in error["details"]] == [["reason"]]


def test_a_query_parameter_out_of_range_is_422_naming_it(client, world):
    error = error_of(client.get("/api/v1/filings?limit=0", headers=world.headers(ENTERPRISE)), 422)
    assert [d["loc"] for d in error["details"]] == [["query", "limit"]]


def test_an_action_out_of_turn_is_409_and_a_missing_permission_403(client, world):
    created = client.post("/api/v1/filings", json=sample_entry(seed=4), headers=world.headers(ENTERPRISE)).json()
    client.post(f"/api/v1/filings/{created['id']}/submit", headers=world.headers(ENTERPRISE))
    customs = next(d["id"] for d in created["declarations"] if d["agency"] == "customs")
    assert client.post(f"/api/v1/declarations/{customs}/accept", headers=world.headers("0916")).status_code == 200
    error = error_of(client.post(f"/api/v1/declarations/{customs}/accept", headers=world.headers("0916")), 409)
    assert error["code"] == "not_submitted"
    error = error_of(client.post("/api/v1/filings", json=sample_entry(seed=5), headers=world.headers("0916")), 403)
    assert error["code"] == "forbidden"


def test_an_unexpected_failure_is_500_in_the_error_shape(app):
    def boom():
        raise RuntimeError("unexpected")

    app.add_api_route("/api/v1/_boom", boom)
    with TestClient(app, raise_server_exceptions=False) as c:
        error_of(c.get("/api/v1/_boom"), 500)


def test_healthz(client, clock):
    answer = client.get("/healthz")
    assert answer.status_code == 200
    assert answer.json() == {"status": "ok", "time": clock.now().isoformat(), "clock_speed": 1.0,
                             "joint_inspection": True}


def test_the_openapi_document_describes_the_entry(client):
    answer = client.get("/openapi.json")
    assert answer.status_code == 200
    doc = json.loads(answer.text)
    assert doc["openapi"].startswith("3.")
    assert doc["info"]["title"] == "OneWindow"
    post = doc["paths"]["/api/v1/filings"]["post"]
    assert "201" in post["responses"]
    body = post["requestBody"]
    assert body["required"] is True
    schema = body["content"]["application/json"]["schema"]
    assert schema["type"] == "object"
    for name in ("direction", "customs_office", "port", "bill_of_lading", "items", "containers"):
        assert name in schema["properties"]
    assert {"direction", "items", "customs_office", "port"} <= set(schema["required"])
    assert schema["properties"]["direction"]["enum"] == ["import", "export"]
    assert {"/api/v1/me", "/api/v1/organisations", "/api/v1/declarations/{declaration_id}/accept"} <= set(doc["paths"])


def test_the_openapi_document_names_the_idempotency_key_of_creating_and_submitting(client):
    doc = client.get("/openapi.json").json()
    for path in ("/api/v1/filings", "/api/v1/filings/{filing_id}/submit"):
        headers = [p for p in doc["paths"][path]["post"]["parameters"] if p["in"] == "header"]
        assert headers == [{"name": "idempotency-key", "in": "header", "required": False, "schema": {
            "anyOf": [{"type": "string"}, {"type": "null"}], "title": "Idempotency-Key"}}]


def _refs(node) -> set[str]:
    if isinstance(node, dict):
        return {node["$ref"]} if isinstance(node.get("$ref"), str) else set().union(*map(_refs, node.values()))
    if isinstance(node, list):
        return set().union(*map(_refs, node)) if node else set()
    return set()


def _resolves(doc: dict, ref: str) -> bool:
    node = doc
    for part in ref.removeprefix("#/").split("/"):
        if not isinstance(node, dict) or part not in node:
            return False
        node = node[part]
    return True


def test_every_ref_in_the_openapi_document_resolves(client):
    doc = client.get("/openapi.json").json()
    dangling = sorted(ref for ref in _refs(doc) if not _resolves(doc, ref))
    assert dangling == []


@pytest.mark.parametrize(("body", "msg"), [
    (b'{"direction": "\xe9"}', "the body is not valid JSON: it is not UTF-8 text"),
    (b"[" * 100_000 + b"]" * 100_000, "the body is not valid JSON: it is nested too deeply")])
def test_a_body_json_cannot_decode_is_422_naming_the_body(client, world, body, msg):
    answer = client.post("/api/v1/filings", content=body, headers={**world.headers(ENTERPRISE),
                                                                   "Content-Type": "application/json"})
    error = error_of(answer, 422)
    assert error["code"] == "validation_failed" and error["details"] == [{"loc": ["body"], "msg": msg}]


@pytest.mark.parametrize("content_type", ["application/x-www-form-urlencoded", "text/plain"])
def test_a_json_body_sent_as_another_content_type_is_422_naming_the_content_type(client, world, content_type):
    answer = client.post("/api/v1/filings", content=json.dumps(sample_entry(seed=1)).encode(),
                         headers={**world.headers(ENTERPRISE), "Content-Type": content_type})
    [detail] = error_of(answer, 422)["details"]
    assert detail["loc"] == ["body"]
    assert detail["msg"] == ("the body must be JSON, sent with Content-Type: application/json "
                             f"(it came as '{content_type}')")


def numbers_too_large(entry: dict) -> dict:
    entry = {**entry, "packages": 10**30, "gross_weight_kg": 10**400, "net_weight_kg": 1e15}
    entry["items"] = [{**entry["items"][0], "quantity": 10**400, "unit_price": 1e300, "total_price": 10**20}]
    return entry


def test_numbers_past_what_a_declaration_holds_are_422_each_named(client, world):
    answer = client.post("/api/v1/filings", json=numbers_too_large(sample_entry(seed=1)),
                         headers=world.headers(ENTERPRISE))
    locs = sorted(str(d["loc"]) for d in error_of(answer, 422)["details"])
    assert locs == sorted(str(loc) for loc in (["packages"], ["gross_weight_kg"], ["net_weight_kg"],
                                                ["items", 0, "quantity"], ["items", 0, "unit_price"],
                                                ["items", 0, "total_price"]))
    assert client.get("/api/v1/filings", headers=world.headers(ENTERPRISE)).json()["total"] == 0


def test_numbers_past_what_a_declaration_holds_are_422_in_an_edit_and_an_amendment(client, world):
    headers = world.headers(ENTERPRISE)
    filing = client.post("/api/v1/filings", json=sample_entry(seed=2), headers=headers).json()
    edit = client.patch(f"/api/v1/filings/{filing['id']}", json={"packages": 10**30}, headers=headers)
    assert [d["loc"] for d in error_of(edit, 422)["details"]] == [["packages"]]
    client.post(f"/api/v1/filings/{filing['id']}/submit", headers=headers)
    customs = next(d["id"] for d in filing["declarations"] if d["agency"] == "customs")
    amended = client.post(f"/api/v1/declarations/{customs}/amendments",
                          json={"changes": {"packages": 10**30}, "reason": "recount"}, headers=headers)
    assert [d["loc"] for d in error_of(amended, 422)["details"]] == [["changes", "packages"]]
    shown = client.get(f"/api/v1/filings/{filing['id']}", headers=headers).json()
    assert shown["version"] == 1 and shown["data"]["packages"] == sample_entry(seed=2)["packages"]


@pytest.mark.parametrize("path", ["/api/v1/filings", "/api/v1/declarations"])
@pytest.mark.parametrize("offset", ["99999999999999999999", "1000000001"])
def test_an_offset_past_any_list_is_422(client, world, path, offset):
    code = ENTERPRISE if path.endswith("filings") else "0916"
    error = error_of(client.get(path, params={"offset": offset}, headers=world.headers(code)), 422)
    assert [d["loc"] for d in error["details"]] == [["query", "offset"]]
