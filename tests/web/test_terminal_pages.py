"""The terminal's pages: arrivals, relocation tasks and the gate screen (both databases)."""

from __future__ import annotations

import pytest

from tests.web.test_agency_pages import ENTERPRISE, OFFICE, api, filed, post

PAGES = ["/terminal/arrivals", "/terminal/tasks", "/terminal/gate", "/terminal/gate?container=CSQU3054383"]


@pytest.mark.parametrize("path", PAGES)
def test_each_terminal_page_is_for_the_terminal_only(client, pages, path):
    anonymous = client.get(path, follow_redirects=False)
    assert anonymous.status_code == 303 and anonymous.headers["location"].startswith("/login?next=")
    for code in ("DCT", "0916", "210600", ENTERPRISE, "PORTOFFICE"):
        client.cookies.clear()
        pages.sign_in(client, code)
        assert client.get(path).status_code == (200 if code == "DCT" else 404), code


def test_a_terminal_viewer_reads_the_gate_but_does_not_operate(client, pages):
    pages.add_user("DCT", "reader", "viewer")
    pages.sign_in(client, "DCT", "reader")
    gate = client.get("/terminal/gate?container=CSQU3054383")
    assert gate.status_code == 200 and 'id="gate-out-form"' not in gate.text
    assert client.get("/terminal/arrivals").status_code == 404
    assert client.get("/terminal/tasks").status_code == 404


def test_an_arrival_names_each_bad_number_and_keeps_what_was_typed(client, pages, world):
    case = filed(client, world)
    good, bad = case["container"], case["container"][:-1] + str((int(case["container"][-1]) + 1) % 10)
    pages.sign_in(client, "DCT")
    refused = post(client, "/terminal/arrivals", containers=f"{good}\n{bad}", vessel="COSCO AFRICA", voyage="123E")
    assert refused.status_code == 422
    assert f"{bad}: 集装箱号校验码（ISO 6346）错误" in refused.text
    assert f"{good}\n{bad}</textarea>" in refused.text and 'value="COSCO AFRICA"' in refused.text
    recorded = post(client, "/terminal/arrivals", containers=f"{good.lower()}", vessel="COSCO AFRICA", voyage="123E")
    assert recorded.status_code == 303
    yard = client.get(recorded.headers["location"])
    assert f'data-container="{good}"' in yard.text and 'id="flash"' in yard.text
    again = post(client, "/terminal/arrivals", containers=good)
    assert again.status_code == 409 and "已抵港且尚未提离" in again.text


def relocation_task(client, world, case: dict) -> dict:
    """The relocation task of the joint inspection both agencies decide on the consignment's container."""
    for agency in ("customs", "ciq"):
        api(client, world, OFFICE[agency], "POST", f"/declarations/{case[agency]}/accept")
        api(client, world, OFFICE[agency], "POST", f"/declarations/{case[agency]}/decision",
            {"inspect": True, "containers": [case["container"]], "kind": "physical"}, 201)
    [task] = api(client, world, "DCT", "GET", "/terminal/tasks")
    return task


def test_a_relocation_task_needs_its_location(client, pages, world):
    case = filed(client, world)
    task = relocation_task(client, world, case)
    pages.sign_in(client, "DCT")
    listed = client.get("/terminal/tasks")
    assert f'id="task-{task["id"]}"' in listed.text and case["container"] in listed.text
    empty = post(client, f"/terminal/tasks/{task['id']}/complete", location=" ")
    assert empty.status_code == 422 and 'id="task-error"' in empty.text
    assert post(client, f"/terminal/tasks/{task['id']}/complete", location="查验区 B3").status_code == 303
    [inspection] = api(client, world, ENTERPRISE, "GET", f"/inspections?filing={case['filing']}")
    assert inspection["status"] == "ready" and inspection["location"] == "查验区 B3"
    done = client.get("/terminal/tasks")
    assert f'id="task-{task["id"]}"' not in done.text and "查验区 B3" in done.text


def test_the_gate_answers_and_refuses_until_every_agency_has_released(client, pages, world):
    case = filed(client, world)
    number = case["container"]
    api(client, world, "DCT", "POST", "/terminal/arrivals", {"containers": [number]}, 201)
    for agency in ("customs", "ciq"):
        api(client, world, OFFICE[agency], "POST", f"/declarations/{case[agency]}/accept")
        api(client, world, OFFICE[agency], "POST", f"/declarations/{case[agency]}/decision", {"inspect": False}, 201)
    api(client, world, "0916", "POST", f"/declarations/{case['customs']}/release")
    pages.sign_in(client, "DCT")
    held = client.get(f"/terminal/gate?container={number.lower()}")
    assert 'data-state="held"' in held.text and 'id="gate-out-form"' in held.text
    pending = held.text.split('class="pending">')[1].split("</span>")[0]
    assert "检验检疫" in pending and "海关" not in pending
    refused = post(client, "/terminal/gate", container=number)
    assert refused.status_code == 409 and 'data-state="refused"' in refused.text
    assert "检验检疫" in refused.text.split('class="pending">')[1].split("</span>")[0]
    api(client, world, "210600", "POST", f"/declarations/{case['ciq']}/release")
    released = client.get(f"/terminal/gate?container={number}")
    assert 'data-state="released"' in released.text
    out = post(client, "/terminal/gate", container=number)
    assert out.status_code == 303 and out.headers["location"] == f"/terminal/gate?left={number}"
    assert 'data-state="left"' in client.get(out.headers["location"]).text
    filing = api(client, world, ENTERPRISE, "GET", f"/filings/{case['filing']}")
    assert [g["container"] for g in filing["gate_outs"]] == [number]
    gone = client.get(f"/terminal/gate?container={number}")
    assert 'data-state="unknown"' in gone.text and 'id="gate-out-form"' not in gone.text


def test_the_gate_checks_the_number_and_knows_only_its_port(client, pages):
    pages.sign_in(client, "DCT")
    assert 'data-state="invalid"' in client.get("/terminal/gate?container=CSQU3054384").text
    assert 'data-state="unknown"' in client.get("/terminal/gate?container=CSQU3054383").text
    assert post(client, "/terminal/gate", container="CSQU3054383").status_code == 404


def test_completing_a_task_already_done_says_so_at_the_top(client, pages, world):
    case = filed(client, world)
    task = relocation_task(client, world, case)
    pages.sign_in(client, "DCT")
    client.cookies.set("ow_lang", "en")
    assert post(client, f"/terminal/tasks/{task['id']}/complete", location="B4").status_code == 303
    again = post(client, f"/terminal/tasks/{task['id']}/complete", location="B4")
    assert again.status_code == 409 and f'id="task-{task["id"]}"' not in again.text  # no longer open: no form
    assert 'id="tasks-error"' in again.text and "this relocation task is already completed" in again.text


def test_a_gate_out_without_a_number_names_the_field(client, pages):
    pages.sign_in(client, "DCT")
    client.cookies.set("ow_lang", "en")
    refused = post(client, "/terminal/gate", container="  ")
    assert refused.status_code == 422 and 'data-state="refused"' in refused.text
    assert "give a container number" in refused.text and 'id="gate-out-form"' not in refused.text


def test_the_gate_says_what_is_wrong_with_a_number_in_the_readers_language(client, pages):
    pages.sign_in(client, "DCT")
    chinese = client.get("/terminal/gate?container=XYZ")
    assert 'data-state="invalid"' in chinese.text and "集装箱号应为 4 个字母加 7 位数字" in chinese.text
    assert "container number must be" not in chinese.text
    client.cookies.set("ow_lang", "en")
    english = client.get("/terminal/gate?container=XYZ")
    assert "container number must be 4 letters and 7 digits" in english.text
