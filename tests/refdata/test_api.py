"""The reference data router, on a bare application."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from onewindow.refdata.api import router


@pytest.fixture
def app() -> FastAPI:
    app = FastAPI()
    app.include_router(router, prefix="/api/v1")
    return app


@pytest.fixture
def client(app: FastAPI) -> TestClient:
    return TestClient(app)


def items(client: TestClient, table: str, **params) -> list[dict]:
    response = client.get(f"/api/v1/refdata/{table}", params=params)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["table"] == table
    return body["items"]


def test_hs_by_code_prefix(client):
    found = items(client, "hs", q="030389")
    assert [i["code"] for i in found] == ["03038910", "03038920", "03038930", "03038990"]
    assert found[-1]["name_zh"] and found[-1]["name_en"]


def test_hs_by_name_in_either_language(client):
    zh = items(client, "hs", q="平板电脑")
    assert zh == [{"code": "84713010", "name_zh": "平板电脑", "name_en": zh[0]["name_en"]}]
    en = items(client, "hs", q="PURE-BRED BREEDING HORSES")
    assert [i["code"] for i in en] == ["01012100"]


def test_hs_default_listing_and_limit(client):
    first = items(client, "hs")
    assert len(first) == 20
    assert first[0]["code"] == "01012100"
    assert [i["code"] for i in first] == sorted(i["code"] for i in first)
    assert len(items(client, "hs", q="", limit=100)) == 100
    assert len(items(client, "hs", limit=1)) == 1


def test_hs6(client):
    (item,) = items(client, "hs6", q="010121")
    assert item == {"code": "010121", "name_zh": None, "name_en": "Horses; live, pure-bred breeding animals"}


def test_ports(client):
    (dalian,) = items(client, "ports", q="CNDAG")
    assert dalian == {"code": "CNDAG", "name_zh": None, "name_en": "Dalian Pt"}
    assert "CNSHG" in {i["code"] for i in items(client, "ports", q="shg")}
    assert {"CNQDG", "CNTAO"} <= {i["code"] for i in items(client, "ports", q="qingdao")}


@pytest.mark.parametrize(("table", "q", "code", "name_zh", "name_en"), [
    ("countries", "CHN", "CHN", "中国", "China"),
    ("currencies", "usd", "USD", "美元", "US Dollar"),
    ("units", "035", "035", "千克", None),
    ("trade_modes", "0110", "0110", "一般贸易", None),
    ("transport_modes", "水路", "2", "水路运输", None),
    ("transaction_modes", "FOB", "3", "FOB", None),
    ("package_types", "22", "22", "纸制或纤维板制盒/箱", None),
    ("levy_kinds", "101", "101", "一般征税", None),
    ("container_kinds", "11", "11", "普通2*标准箱（L）", None),
])
def test_parameter_tables(client, table, q, code, name_zh, name_en):
    found = items(client, table, q=q)
    assert {"code": code, "name_zh": name_zh, "name_en": name_en} in found


def test_whole_small_table(client):
    assert len(items(client, "currencies", limit=100)) == 22


def test_no_match_is_an_empty_list(client):
    assert items(client, "hs", q="no such goods anywhere") == []


def test_unknown_table_is_404(client):
    response = client.get("/api/v1/refdata/planets")
    assert response.status_code == 404
    assert "unknown reference table 'planets'" in response.json()["detail"]


@pytest.mark.parametrize("limit", [0, 101, -1, "many"])
def test_limit_out_of_range_is_422(client, limit):
    assert client.get("/api/v1/refdata/hs", params={"limit": limit}).status_code == 422


def test_inspection_catalogue_entry(client):
    response = client.get("/api/v1/refdata/inspection-catalogue/0303899090")
    assert response.status_code == 200
    assert response.json() == {
        "hs_code": "0303899090",
        "needs_inspection": True,
        "hs_prefix": "03",
        "category": "animal_quarantine",
        "name_zh": "鱼、甲壳动物、软体动物及其他水生无脊椎动物",
        "name_en": "Fish, crustaceans, molluscs and other aquatic invertebrates",
    }


def test_inspection_catalogue_not_needed(client):
    response = client.get("/api/v1/refdata/inspection-catalogue/8471301000")
    assert response.json() == {"hs_code": "8471301000", "needs_inspection": False}


@pytest.mark.parametrize("hs_code", ["x", "0", "03038990901", "0303a"])
def test_inspection_catalogue_bad_code_is_422(client, hs_code):
    assert client.get(f"/api/v1/refdata/inspection-catalogue/{hs_code}").status_code == 422


def test_inspection_catalogue_from_app_state(app, client, tmp_path):
    path = tmp_path / "catalogue.csv"
    path.write_text("hs_prefix,category,name_zh,name_en\n8471,commodity_inspection,计算机,Computers\n",
                    encoding="utf-8")
    app.state.inspection_catalogue = str(path)
    body = client.get("/api/v1/refdata/inspection-catalogue/8471301000").json()
    assert body["needs_inspection"] is True and body["hs_prefix"] == "8471"
    assert client.get("/api/v1/refdata/inspection-catalogue/0303899090").json()["needs_inspection"] is False


def test_inspection_catalogue_from_app_settings(app, client, tmp_path):
    path = tmp_path / "catalogue.csv"
    path.write_text("hs_prefix,category,name_zh,name_en\n9504,commodity_inspection,游戏机,Games\n",
                    encoding="utf-8")
    app.state.settings = SimpleNamespace(inspection_catalogue=path)
    assert client.get("/api/v1/refdata/inspection-catalogue/9504500000").json()["needs_inspection"] is True
    assert client.get("/api/v1/refdata/inspection-catalogue/9503001000").json()["needs_inspection"] is False
    app.state.settings = SimpleNamespace(inspection_catalogue=None)
    assert client.get("/api/v1/refdata/inspection-catalogue/9503001000").json()["needs_inspection"] is True


def test_openapi_lists_both_routes(client):
    paths = client.get("/openapi.json").json()["paths"]
    assert "/api/v1/refdata/{table}" in paths
    assert "/api/v1/refdata/inspection-catalogue/{hs_code}" in paths


def test_package_import_does_not_need_fastapi():
    import subprocess
    import sys

    code = "import sys, onewindow.refdata; assert 'fastapi' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)
