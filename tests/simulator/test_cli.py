"""``onewindow simulate``: bad options get a clear error (exit status 2) before anything runs."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from onewindow.cli import app

runner = CliRunner()


@pytest.mark.parametrize("args, message", [
    ([], "give either --url URL"),
    (["--url", "http://127.0.0.1:9", "--compare"], "give either --url URL"),
    (["--url", "ftp://somewhere"], "--url must be an http:// or https:// address"),
    (["--compare", "--consignments", "0"], "--consignments must be between 1 and 100000, not 0"),
    (["--compare", "--customs-rate", "1.5"], "--customs-rate must be a share between 0 and 1, not 1.5"),
    (["--compare", "--no-show-rate", "-0.1"], "--no-show-rate must be a share between 0 and 1"),
    (["--compare", "--speed", "0"], "--speed must be between 1 and 100000"),
    (["--compare", "--concurrency", "0"], "--concurrency must be between 1 and 1000"),
    (["--compare", "--containers-per-filing", "0"], "--containers-per-filing must be between 1 and 50"),
    (["--compare", "--format", "xml"], "--format must be text or json, not 'xml'"),
    (["--compare", "--tokens", "t.json"], "--tokens goes with --url"),
])
def test_bad_options(args, message):
    result = runner.invoke(app, ["simulate", *args])
    assert result.exit_code == 2, result.output
    assert message in result.output


def test_every_problem_is_told_at_once():
    result = runner.invoke(app, ["simulate", "--compare", "--reject-rate", "2", "--format", "csv"])
    assert result.exit_code == 2
    assert "--reject-rate" in result.output and "--format" in result.output


def test_a_number_that_is_not_one():
    result = runner.invoke(app, ["simulate", "--compare", "--consignments", "many"])
    assert result.exit_code == 2
    assert "--consignments" in result.output


@pytest.mark.parametrize("content, message", [
    (None, "cannot read"), ("{not json", "is not a JSON document"), ("[]", "must hold a JSON object"),
    (json.dumps({"terminal": "t", "customs": "c"}), "lacks ciq, enterprises"),
    (json.dumps({"terminal": "t", "customs": "c", "ciq": "q", "enterprises": []}), "lacks enterprises"),
])
def test_bad_token_files(tmp_path, content, message):
    path = tmp_path / "tokens.json"
    if content is not None:
        path.write_text(content)
    result = runner.invoke(app, ["simulate", "--url", "http://127.0.0.1:9", "--tokens", str(path)])
    assert result.exit_code == 2, result.output
    assert message in result.output


def test_a_platform_that_does_not_answer(tmp_path):
    path = tmp_path / "tokens.json"
    path.write_text(json.dumps({"terminal": "t", "customs": "c", "ciq": "q", "enterprises": ["e"]}))
    result = runner.invoke(app, ["simulate", "--url", "http://127.0.0.1:9", "--tokens", str(path), "--no-progress"])
    assert result.exit_code == 1
    assert "the platform at http://127.0.0.1:9 does not answer" in result.output


def test_url_without_tokens_needs_the_platforms_database(tmp_path, monkeypatch):
    from onewindow.config import get_settings

    monkeypatch.setenv("ONEWINDOW_DATABASE_URL", f"sqlite:///{tmp_path / 'empty.db'}")
    get_settings.cache_clear()
    try:
        result = runner.invoke(app, ["simulate", "--url", "http://127.0.0.1:9", "--no-progress"])
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 1
    assert "cannot register the simulated parties" in result.output and "--tokens" in result.output
