"""JSON request bodies: read with orjson where it gives the standard library's value, by the standard library
otherwise, so every body is read, or refused, exactly as ``json.loads`` reads or refuses it."""

from __future__ import annotations

import json
import math

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import given
from hypothesis import strategies as st
from pydantic import BaseModel

from onewindow.app import ApiRequest, ApiRoute, request_json

ENT = "91210200MA0QK1P3AF"


def outcome(read, body: bytes):
    """What ``read(body)`` gives: its value (as ``repr``, so 1 and 1.0, 0.0 and -0.0, differ), or its error."""
    try:
        value = read(body)
    except (ValueError, RecursionError) as error:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        details = (error.msg, error.doc, error.pos) if isinstance(error, json.JSONDecodeError) else str(error)
        return type(error), details
    return type(value), repr(value)


BODIES = [
    b'{"a": 1, "b": [1.5, -0.0, 0, true, false, null], "c": "\\u00e9\\ud83d\\ude00"}',
    b'{"a": 1, "a": 2}',  # the last value of a repeated key, at the first one's place
    b"9223372036854775807", b"-9223372036854775808",  # 64 bits
    b"9223372036854775808", b"18446744073709551615", b"18446744073709551616",  # beyond 64 bits signed, unsigned
    b"-9223372036854775809", b'{"n": [123456789012345678901234567890]}',
    b"123456789012345678901234567890.5", b"1e400", b"-1e400", b"1e-400", b"5e-324", b"0.1", b"1E5", b"-0",
    b"NaN", b"Infinity", b"-Infinity",
    b'"\\ud800"', b'"\\udc00x"',  # lone surrogates
    b'\xef\xbb\xbf{"a": 1}', '{"a": "\u00e9"}'.encode("utf-16"), '{"a": 1}'.encode("utf-32-le"),
    b'"\xff"', b'{"\xc3\xa9": "\xe2\x82\xac"}', b' \t\n\r{}\r\n',
    b"", b" ", b"{bad", b'{"direction": "import",}', b"\xff\xfe", b"[1,]", b"1 2", b"01", b'"a\tb"', b"{'a': 1}",
    b"[" * 5000 + b"]" * 5000,  # deeper than either reader goes
    b"[" * 600 + b"]" * 600,
]


@pytest.mark.parametrize("body", BODIES)
def test_a_body_is_read_or_refused_as_the_standard_library_does(body):
    assert outcome(request_json, body) == outcome(json.loads, body)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.integers(min_value=-2**70, max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner, max_size=4),
    max_leaves=20)


@given(json_values, st.booleans())
def test_any_document_is_read_as_the_standard_library_reads_it(value, ascii_only):
    body = json.dumps(value, ensure_ascii=ascii_only).encode()
    assert outcome(request_json, body) == outcome(json.loads, body)


@given(st.binary(max_size=40))
def test_any_bytes_are_read_or_refused_as_the_standard_library_does(body):
    assert outcome(request_json, body) == outcome(json.loads, body)


def test_a_big_integer_is_not_read_as_a_float():
    assert request_json(b'{"n": 18446744073709551616}') == {"n": 18446744073709551616}
    assert type(request_json(b"-9223372036854775809")) is int
    assert math.isnan(request_json(b"NaN"))


class Thing(BaseModel):
    n: int
    name: str


def echo(thing: Thing) -> Thing:
    return thing


def test_an_api_route_with_a_body_reads_it_with_request_json(monkeypatch):
    read = []
    monkeypatch.setattr("onewindow.app.request_json", lambda body: read.append(body) or json.loads(body))
    app = FastAPI()
    app.router.add_api_route("/things", echo, methods=["POST"], route_class_override=ApiRoute)
    with TestClient(app) as client:
        assert client.post("/things", content=b'{"n": 18446744073709551616, "name": "x"}',
                           headers={"Content-Type": "application/json"}).json() \
            == {"n": 18446744073709551616, "name": "x"}
    assert read == [b'{"n": 18446744073709551616, "name": "x"}']


def test_the_api_reads_bodies_with_request_json_and_refuses_bad_json_as_before(client, world, monkeypatch):
    read = []
    monkeypatch.setattr("onewindow.app.request_json", lambda body: read.append(body) or json.loads(body))
    headers = {**world.headers(ENT), "Content-Type": "application/json"}
    answer = client.post("/api/v1/filings", content=b"{bad", headers=headers)
    assert answer.status_code == 422
    assert answer.json()["error"]["details"] == [{"loc": ["body"], "msg": "the body is not valid JSON",
                                                   "type": "json_invalid"}]
    answer = client.post("/api/v1/filings", content=b"NaN", headers=headers)
    assert answer.status_code == 422 and answer.json()["error"]["details"][0]["loc"] == []
    assert read == [b"{bad", b"NaN"]


def test_a_request_reads_its_json_once():
    calls = []

    async def receive():
        calls.append(1)
        return {"type": "http.request", "body": b'{"a": 1}', "more_body": False}

    async def both(request):
        return await request.json(), await request.json()

    import asyncio

    request = ApiRequest({"type": "http", "method": "POST", "headers": []}, receive)
    assert asyncio.run(both(request)) == ({"a": 1}, {"a": 1})
    assert calls == [1]
