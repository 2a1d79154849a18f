"""``chaski operations add|edit|list``: declaring and correcting what was promised (#16.1,
#16.3)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.cli.harness import Result
from tests.cli.test_cli import HEADER, create_invite, redeem


@pytest.fixture
def region(chaski: Callable[..., Result], installed: None) -> None:
    del installed
    assert chaski("region", "add", "Pichari").code == 0


def test_an_operation_is_declared_and_listed_as_json_and_as_a_table(
    chaski: Callable[..., Result], region: None
) -> None:
    del region
    added = chaski(
        "operations",
        "add",
        "Tornado 2016",
        "--region",
        "pichari",
        "--total",
        "2000000",
        "--date",
        "2016-05-20",
        "--promised-by",
        "=Comando",
        "--basis",
        "Volante",
        "--pay-by",
        "2016-12-31",
    )
    assert added.out == "Operation 1 created.\n", added.err
    listed = chaski("operations", "list", "--json")
    assert json.loads(listed.out) == [
        {
            "id": 1,
            "label": "Tornado 2016",
            "date": "2016-05-20",
            "region": "Pichari",
            "total_cents": 200_000_000,
            "promised_by": "=Comando",
            "basis": "Volante",
            "pay_by": "2016-12-31",
        }
    ]
    table = chaski("operations", "list").out.splitlines()
    assert table[0].split() == [
        "ID",
        "LABEL",
        "DATE",
        "REGION",
        "TOTAL",
        "PAY",
        "BY",
        "PROMISED",
        "BY",
        "BASIS",
    ]
    assert "2000000.00" in table[1]
    assert "'=Comando" in table[1]  # spreadsheet-safe cell


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--total", "0"), "--total: must be above 0"),
        (("--total", "-5"), "--total: soles with a dot"),
        (("--total", "10", "--pay-by", "2016/12/31"), "--pay-by: use DD/MM/YYYY or YYYY-MM-DD"),
        (("--total", "10", "--region", "Nowhere"), "no region with that name"),
    ],
)
def test_bad_operations_are_refused_with_one_line(
    chaski: Callable[..., Result], region: None, args: tuple[str, ...], message: str
) -> None:
    del region
    argv = ["operations", "add", "Tornado 2016", *args]
    if "--region" not in args:
        argv += ["--region", "Pichari"]
    result = chaski(*argv)
    assert result.code == 2
    assert message in result.err
    assert result.err.count("\n") == 1


def test_the_same_label_twice_is_refused(chaski: Callable[..., Result], region: None) -> None:
    del region
    args = ("operations", "add", "Tornado 2016", "--region", "Pichari", "--total", "10")
    assert chaski(*args).code == 0
    again = chaski(*args)
    assert again.code == 2
    assert "an operation with that label exists" in again.err
    assert chaski("operations", "list", "--json").out.count('"id"') == 1


# ------------------------------------------------------------------ operations edit (#16.3)


def _add(chaski: Callable[..., Result], *extra: str) -> None:
    args = ("operations", "add", "Tornado 2016", "--region", "Pichari", "--total", "10")
    assert chaski(*args, *extra).code == 0


def _operation(chaski: Callable[..., Result]) -> dict[str, object]:
    listed = json.loads(chaski("operations", "list", "--json").out)
    assert len(listed) == 1
    result: dict[str, object] = listed[0]
    return result


def _edits(chaski: Callable[..., Result]) -> list[dict[str, object]]:
    rows = json.loads(chaski("audit", "list", "--action", "operation_edit", "--json").out)
    return list(rows)


def test_an_operation_is_corrected_and_the_audit_names_fields_not_values(
    chaski: Callable[..., Result], region: None
) -> None:
    del region
    assert chaski("region", "add", "Ayacucho").code == 0
    _add(chaski, "--pay-by", "2016-12-31", "--basis", "Volante", "--date", "2016-05-20")
    edited = chaski(
        "operations",
        "edit",
        "1",
        "--pay-by",
        "2017-06-30",
        "--total",
        "2500.50",
        "--label",
        "Tornado bis",
        "--region",
        "ayacucho",
        "--promised-by",
        "Comando",
    )
    assert edited.out == (
        "Operation 1 changed: label, region, total_cents, promised_by, pay_by.\n"
    ), edited.err
    assert _operation(chaski) == {
        "id": 1,
        "label": "Tornado bis",
        "date": "2016-05-20",
        "region": "Ayacucho",
        "total_cents": 250_050,
        "promised_by": "Comando",
        "basis": "Volante",
        "pay_by": "2017-06-30",
    }
    (entry,) = _edits(chaski)
    assert entry["target"] == "operation:1:label,region,total_cents,promised_by,pay_by"
    assert entry["result"] == "ok"
    dumped = json.dumps(entry)
    for value in ("Tornado", "2500", "Comando", "2017-06-30"):
        assert value not in dumped


def test_an_empty_value_clears_an_optional_field_and_json_names_the_change(
    chaski: Callable[..., Result], region: None
) -> None:
    del region
    _add(chaski, "--pay-by", "2016-12-31", "--basis", "Volante", "--date", "2016-05-20")
    edited = chaski(
        "operations", "edit", "1", "--pay-by", "", "--basis", " ", "--date", "", "--json"
    )
    shown = json.loads(edited.out)
    assert shown["changed"] == ["date", "basis", "pay_by"]
    assert (shown["pay_by"], shown["basis"], shown["date"]) == (None, None, None)
    assert _operation(chaski)["pay_by"] is None


def test_an_edit_that_changes_nothing_writes_nothing(
    chaski: Callable[..., Result], region: None
) -> None:
    del region
    _add(chaski, "--pay-by", "2016-12-31")
    same = chaski("operations", "edit", "1", "--pay-by", "2016-12-31", "--region", "PICHARI")
    assert same.out == "Operation 1: nothing changed.\n"
    assert same.code == 0
    assert _edits(chaski) == []


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((), "nothing to change: give at least one of --label"),
        (("--total", ""), "--total: cannot be cleared"),
        (("--label", " "), "--label: cannot be cleared"),
        (("--region", ""), "--region: cannot be cleared"),
        (("--total", "diez"), "--total: soles with a dot"),
        (("--pay-by", "12-31-2016"), "--pay-by: use DD/MM/YYYY or YYYY-MM-DD"),
        (("--region", "Nowhere"), "no region with that name"),
    ],
)
def test_bad_edits_are_refused_with_one_line_and_change_nothing(
    chaski: Callable[..., Result], region: None, args: tuple[str, ...], message: str
) -> None:
    del region
    _add(chaski, "--pay-by", "2016-12-31")
    before = _operation(chaski)
    result = chaski("operations", "edit", "1", *args)
    assert result.code == 2
    assert message in result.err
    assert result.err.count("\n") == 1
    assert _operation(chaski) == before
    assert _edits(chaski) == []


def test_an_unknown_operation_or_a_taken_label_is_refused(
    chaski: Callable[..., Result], region: None
) -> None:
    del region
    _add(chaski)
    unknown = chaski("operations", "edit", "9", "--pay-by", "2017-01-01")
    assert unknown.code == 2
    assert "no operation with that id" in unknown.err
    other = ("operations", "add", "Halcón", "--region", "Pichari", "--total", "10")
    assert chaski(*other).code == 0
    taken = chaski("operations", "edit", "2", "--label", "Tornado 2016")
    assert taken.code == 2
    assert "an operation with that label exists" in taken.err


def test_a_total_below_the_promised_shares_is_refused(
    chaski: Callable[..., Result], installed: None, tmp_path: Path
) -> None:
    del installed
    assert chaski("region", "add", "Ayacucho").code == 0
    redeem(create_invite(chaski, "Puma")["code"], 7_000_000_001)
    added = ("operations", "add", "Operación Halcón", "--region", "Ayacucho", "--total", "3000")
    assert chaski(*added).code == 0
    row = "R-2016-0001,Puma,Operación Halcón,2016-02-10,Ayacucho,1500.50,registered,,,\n"
    path = tmp_path / "claims.csv"
    path.write_text(HEADER + row, encoding="utf-8")
    assert chaski("claims", "import", str(path)).code == 0
    below = chaski("operations", "edit", "1", "--total", "1500.49")
    assert below.code == 2
    assert "the total is less than the claims' promised shares of this operation" in below.err
    assert _operation(chaski)["total_cents"] == 300_000
    exact = chaski("operations", "edit", "1", "--total", "1500.50")
    assert exact.out == "Operation 1 changed: total_cents.\n", exact.err
