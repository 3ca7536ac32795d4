"""``GET /api/v1/me`` and the directory of organisations."""

from __future__ import annotations

import uuid
from datetime import datetime

import pytest

ENTERPRISE = "91210200MA0QK1P3AF"
OTHER_ENTERPRISE = "91210211MA0XY7L2XK"

READ = ["container:read", "declaration:read", "event:read", "filing:read", "inspection:read", "organisation:read"]
OFFICER = ["declaration:amend", "declaration:review", "inspection:attend", "inspection:decide", "release:grant",
           "webhook:manage"]


@pytest.mark.parametrize(("code", "kind", "role", "permissions"), [
    (ENTERPRISE, "enterprise", "declarant",
     sorted(READ + ["declaration:amend", "filing:create", "filing:submit", "filing:update", "inspection:book",
                    "webhook:manage"])),
    ("0916", "customs", "officer", sorted(READ + OFFICER)),
    ("210600", "ciq", "officer", sorted(READ + OFFICER)),
    ("DCT", "terminal", "operator", sorted(READ + ["terminal:operate", "webhook:manage"])),
    ("PORTOFFICE", "admin", "admin", sorted(READ + ["organisation:manage", "webhook:manage"])),
])
def test_me_tells_the_organisation_user_role_and_permissions(client, world, clock, code, kind, role, permissions):
    answer = client.get("/api/v1/me", headers=world.headers(code))
    assert answer.status_code == 200, answer.text
    me = answer.json()
    assert me["user"] == "staff" and me["role"] == role
    assert me["permissions"] == permissions
    org = me["organisation"]
    assert (org["kind"], org["code"]) == (kind, code)
    uuid.UUID(org["id"])
    assert datetime.fromisoformat(org["created_at"]) == clock.now()
    assert org["port"] == ("CNDAG" if kind == "terminal" else None)
    assert org["credit_level"] == ("general" if kind == "enterprise" else None)


def test_me_for_a_viewer(client, world):
    headers = world.token_with_role("0916", "auditor", "viewer")
    me = client.get("/api/v1/me", headers=headers).json()
    assert (me["organisation"]["code"], me["user"], me["role"]) == ("0916", "auditor", "viewer")
    assert me["permissions"] == READ


@pytest.mark.parametrize("headers", [
    {},
    {"Authorization": ""},
    {"Authorization": "Bearer"},
    {"Authorization": "Bearer    "},
    {"Authorization": "Bearer ow_not-a-real-token"},
    {"Authorization": "Basic dXNlcjpwYXNz"},
    {"Authorization": "Token ow_x"},
])
def test_without_a_valid_token_it_is_401(client, world, headers):
    for path in ("/api/v1/me", "/api/v1/organisations"):
        answer = client.get(path, headers=headers)
        assert answer.status_code == 401
        assert answer.headers["www-authenticate"] == "Bearer"
        error = answer.json()["error"]
        assert error["code"] == "unauthenticated" and error["message"] and error["details"] == []


def test_the_bearer_scheme_is_case_insensitive(client, world):
    token = world.tokens["0916"]
    assert client.get("/api/v1/me", headers={"Authorization": f"bearer {token}"}).status_code == 200


def test_organisations_lists_every_registered_organisation(client, world):
    answer = client.get("/api/v1/organisations", headers=world.headers(ENTERPRISE))
    assert answer.status_code == 200
    orgs = answer.json()
    assert sorted((o["kind"], o["code"]) for o in orgs) == sorted((k, c) for k, c, _n, _p in world.ORGS)
    # Ordered by kind, then code.
    assert [(o["kind"], o["code"]) for o in orgs] == sorted((o["kind"], o["code"]) for o in orgs)
    names = {o["code"]: o["name"] for o in orgs}
    assert names["0916"] == "大窑湾海关" and names["DCT"] == "大连集装箱码头"


@pytest.mark.parametrize(("kind", "codes"), [
    ("customs", ["0900", "0916"]),
    ("ciq", ["210000", "210600"]),
    ("enterprise", sorted([ENTERPRISE, OTHER_ENTERPRISE])),
    ("terminal", ["DCT"]),
    ("admin", ["PORTOFFICE"]),
    ("border", []),
])
def test_organisations_filtered_by_kind(client, world, kind, codes):
    answer = client.get("/api/v1/organisations", params={"kind": kind}, headers=world.headers("DCT"))
    assert answer.status_code == 200
    assert [o["code"] for o in answer.json()] == codes
    assert all(o["kind"] == kind for o in answer.json())


def test_an_unknown_kind_filter_is_422_naming_it(client, world):
    answer = client.get("/api/v1/organisations", params={"kind": "no-such-kind"}, headers=world.headers("DCT"))
    assert answer.status_code == 422
    assert [d["loc"] for d in answer.json()["error"]["details"]] == [["query", "kind"]]


def test_every_role_may_read_the_directory(client, world):
    for code in ("0916", "210600", "DCT", "PORTOFFICE", ENTERPRISE):
        assert client.get("/api/v1/organisations", headers=world.headers(code)).status_code == 200
    viewer = world.token_with_role(ENTERPRISE, "reader", "viewer")
    assert len(client.get("/api/v1/organisations", headers=viewer).json()) == len(world.ORGS)


def test_the_api_guide_s_roles_table_is_the_roles_the_platform_grants():
    """Each role's row in the guide's "Roles and permissions" table names exactly the permissions it grants."""
    import re
    from pathlib import Path

    from onewindow.parties.permissions import ROLE_PERMISSIONS

    guide = (Path(__file__).parents[2] / "docs" / "api-guide.md").read_text(encoding="utf-8")
    table = guide.split("### Roles and permissions")[1].split("\n\n| role |")[1].split("\n\n")[0]
    rows = {m.group(1): set(re.findall(r"`([a-z_]+:[a-z_]+)`", m.group(2)))
            for m in re.finditer(r"^\| `([a-z]+)`[^|]*\|[^|]*\|(.*)\|$", table, re.M)}
    assert rows == {role.value: {p.value for p in granted} for role, granted in ROLE_PERMISSIONS.items()}
