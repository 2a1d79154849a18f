"""``chaski operations add|list``: declaring what was promised for an operation (#16.1)."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest

from tests.cli.harness import Result


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
        (("--total", "0"), "promised_amount: must be above 0"),
        (("--total", "-5"), "promised_amount: soles with a dot"),
        (("--total", "10", "--pay-by", "31/12/2016"), "--pay-by: use YYYY-MM-DD"),
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
