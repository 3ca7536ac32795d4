"""``onewindow simulate`` end to end: against a running platform with the operator's tokens, and --compare."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from onewindow.cli import app
from onewindow.simulator.run import Platform

runner = CliRunner()
SMALL = ["--consignments", "4", "--seed", "11", "--customs-rate", "1", "--ciq-rate", "1", "--no-show-rate", "0",
         "--no-progress"]


def test_url_with_the_operators_tokens(tmp_path):
    with Platform(f"sqlite:///{tmp_path / 'platform.db'}", speed=14400, joint=True) as platform:
        tokens = platform.tokens
        path = tmp_path / "tokens.json"
        path.write_text(json.dumps({"terminal": tokens["terminal"], "customs": tokens["customs"],
                                    "ciq": tokens["ciq"], "enterprises": [tokens["enterprise:0"]]}))
        result = runner.invoke(app, ["simulate", "--url", platform.url, "--tokens", str(path), "--format", "json",
                                     *SMALL])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    run = doc["runs"]["run"]
    assert run["joint_inspection"] is True and run["failures"] == {}
    figures = run["figures"]
    assert figures["consignments"] == figures["gated_out"] == 4
    assert figures["containers_opened"] == figures["containers"] == 8  # every container inspected, once
    assert doc["options"]["consignments"] == 4


def test_a_token_of_the_wrong_party(tmp_path):
    with Platform(f"sqlite:///{tmp_path / 'platform.db'}", speed=14400, joint=True) as platform:
        tokens = platform.tokens
        path = tmp_path / "tokens.json"
        path.write_text(json.dumps({"terminal": tokens["customs"], "customs": tokens["customs"],
                                    "ciq": tokens["ciq"], "enterprises": [tokens["enterprise:0"]]}))
        result = runner.invoke(app, ["simulate", "--url", platform.url, "--tokens", str(path), *SMALL])
    assert result.exit_code == 1
    assert "the terminal token belongs to a customs (0916), not a terminal" in result.output


def test_compare_prints_both_side_by_side():
    result = runner.invoke(app, ["simulate", "--compare", "--speed", "14400", *SMALL])
    assert result.exit_code == 0, result.output
    lines = {line[:27].strip(): line[27:].split() for line in result.stdout.splitlines() if line.strip()}
    assert lines[""] == ["matching", "on", "matching", "off"]
    assert lines["gated out"] == ["4", "4"]
    opened_on, opened_off = map(int, lines["containers opened"])
    assert opened_off > opened_on  # every consignment with CIQ goods is opened twice without matching
