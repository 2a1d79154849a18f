"""What a new operator hit following the README and docs/commands.md literally (#16.3).

Each test is one step of that walk-through whose output or refusal was wrong or confusing.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.cli.harness import Result


@pytest.fixture
def region(chaski: Callable[..., Result], installed: None) -> None:
    del installed
    assert chaski("region", "add", "Pichari").code == 0


def test_an_empty_optional_field_shows_a_plain_dash_not_an_escaped_one(
    chaski: Callable[..., Result], region: None
) -> None:
    """``operations list`` and ``audit list`` printed ``'-`` for "nothing": the placeholder
    went through the spreadsheet escape meant for typed names."""
    del region
    assert (
        chaski("operations", "add", "Halcón", "--region", "Pichari", "--total", "1000").code == 0
    )
    rows = chaski("operations", "list").out.splitlines()
    assert rows[1].split() == ["1", "Halcón", "-", "Pichari", "1000.00", "-", "-", "-"]
    audit = chaski("audit", "list").out.splitlines()
    assert all("'-" not in line for line in audit), audit
    assert audit[-1].split()[2] == "-"


def test_a_codename_differing_only_in_case_from_another_is_refused(
    chaski: Callable[..., Result], region: None
) -> None:
    """``Admin-1`` and ``admin-1`` could both be enrolled; every command that names a member
    "in any case" then found neither (``no member with that codename``)."""
    del region
    base = ("invite", "create", "--region", "Pichari", "--codename")
    assert chaski(*base, "Admin-1", "--role", "admin").code == 0
    refused = chaski(*base, "ADMIN-1", "--role", "informant")
    assert refused.code == 2
    assert refused.err_lines == [
        "chaski: codename: differs only in case from an existing member's codename;"
        " choose another, or type it exactly as enrolled to re-enrol"
    ]
    listed = chaski("members", "list").out.casefold()
    assert listed.count("admin-1") == 1
    assert chaski("members", "reset-pin", "admin-1").code == 0


def test_a_batch_refuses_codenames_differing_only_in_case(
    chaski: Callable[..., Result], region: None, tmp_path: Path
) -> None:
    del region
    assert (
        chaski(
            "invite",
            "create",
            "--role",
            "informant",
            "--region",
            "Pichari",
            "--codename",
            "Cóndor-7",
        ).code
        == 0
    )
    names = tmp_path / "names.txt"
    names.write_text("Atoq\nATOQ\ncóndor-7\n", encoding="utf-8")
    result = chaski(
        "invite",
        "create-batch",
        "--role",
        "informant",
        "--region",
        "Pichari",
        "--codenames",
        str(names),
    )
    assert result.code == 2
    assert result.err_lines[:2] == [
        "line 2: codename: repeats line 1 (apart from case)",
        "line 3: codename: differs only in case from an existing member's codename;"
        " choose another, or type it exactly as enrolled to re-enrol",
    ]


def test_members_list_search_ignores_accents(chaski: Callable[..., Result], region: None) -> None:
    """``members list --search jose`` found nobody for ``José-Luis``."""
    del region
    for name in ("José-Luis", "Ñusta Qhapaq"):
        assert (
            chaski(
                "invite",
                "create",
                "--role",
                "informant",
                "--region",
                "Pichari",
                "--codename",
                name,
            ).code
            == 0
        )
    rows = chaski("members", "list", "--search", "jose").out.splitlines()
    assert [row.split()[2] for row in rows[1:]] == ["José-Luis"]
    rows = chaski("members", "list", "--search", "NUSTA").out.splitlines()
    assert [row.split()[2] for row in rows[1:]] == ["Ñusta"]


def test_each_group_help_line_covers_its_actions(capsys: pytest.CaptureFixture[str]) -> None:
    """``chaski --help`` said "import reward claims" (no export), "declare and list
    operations" (no edit), "rotate and retire data keys" (no audit key): a new operator
    reading it would not look for those commands."""
    from bot.root.cli import main  # noqa: PLC0415 - the CLI entry, as the console script

    assert main(["--help"]) == 0
    lines = {
        line.split()[0]: line
        for line in capsys.readouterr().out.splitlines()
        if line[:4] == "    "
    }
    assert "export" in lines["claims"]
    assert "correct" in lines["operations"]
    assert "audit key" in lines["keys"]
    assert "search" in lines["members"]


def test_a_claims_file_may_write_a_codename_in_another_case(
    chaski: Callable[..., Result], region: None, tmp_path: Path
) -> None:
    """A programme's spreadsheet, typed by hand, says ``atoq`` for the informant enrolled as
    ``Atoq``; every other command takes codenames in any case, the import refused the file
    (``no member with that codename``)."""
    del region
    create = ("invite", "create", "--role", "informant", "--region", "Pichari", "--codename")
    assert chaski(*create, "Atoq").code == 0
    claims = tmp_path / "claims.csv"
    rows = (
        "\ufeffreference;codename;operation;operation_date;region;promised_amount;"
        "status;promised_date;next_step;next_step_date\r\n"
        "R-2019-0001; atoq ;Relámpago;01/03/2018;pichari;S/ 1,500.50;approved;3/2/2019;;\r\n"
        "R-2019-0002;NADIE;Relámpago;01/03/2018;pichari;750;approved;;;\r\n"
    )
    claims.write_text(rows, encoding="utf-8", newline="")
    refused = chaski("claims", "import", str(claims))
    assert refused.err_lines[0] == (
        "line 3, cell B3: codename: no member with that codename (see chaski members list)"
    )
    claims.write_text(rows.rsplit("R-2019-0002", 1)[0], encoding="utf-8", newline="")
    assert chaski("claims", "import", str(claims)).out == (
        "Imported: 1 created, 0 updated, 0 unchanged.\n"
    )
    exported = chaski("claims", "export").out.splitlines()
    assert exported[1].split(",")[:2] == ["R-2019-0001", "Atoq"]
    assert chaski("claims", "import", str(claims)).out == (
        "Imported: 0 created, 0 updated, 1 unchanged.\n"
    )


def test_an_operation_takes_dates_and_amounts_as_a_claims_file_writes_them(
    chaski: Callable[..., Result], region: None
) -> None:
    """``operations add --date 20/05/2016`` was refused (``use YYYY-MM-DD``) while the claims
    file and the chat take day-first dates, and a bad ``--total`` was blamed on a
    ``promised_amount`` the operator never typed."""
    del region
    added = chaski(
        "operations", "add", "Halcón", "--region", "Pichari", "--total", "S/ 2,500,000",
        "--date", "20/05/2016", "--pay-by", "31/12/2016", "--json",
    )  # fmt: skip
    assert added.code == 0, added.err
    assert '"date": "2016-05-20"' in added.out
    assert '"pay_by": "2016-12-31"' in added.out
    assert '"total_cents": 250000000' in added.out
    assert chaski("operations", "edit", "1", "--pay-by", "3/2/2017").code == 0
    assert '"pay_by": "2017-02-03"' in chaski("operations", "list", "--json").out
    bad = chaski("operations", "edit", "1", "--total", "1500,50")
    assert bad.code == 2
    assert bad.err.startswith("chaski: --total: a comma cannot mark the decimals;")
    assert chaski("operations", "edit", "1", "--date", "31/02/2016").err == (
        "chaski: --date: not a real date\n"
    )


def test_claims_export_takes_json_like_every_other_command(
    chaski: Callable[..., Result], region: None
) -> None:
    """The README says every command has ``--json``; ``claims export --json`` was refused
    (``unrecognized arguments``): only ``--format json`` worked."""
    del region
    exported = chaski("claims", "export", "--json")
    assert exported.code == 0, exported.err
    assert json.loads(exported.out) == []
    assert exported.out == chaski("claims", "export", "--format", "json").out


def test_a_region_is_the_same_in_any_case_accented_capitals_too(
    chaski: Callable[..., Result], installed: None
) -> None:
    """The docs say ``Ayacucho`` and ``AYACUCHO`` are one region; SQLite's NOCASE folds ASCII
    only, so ``Río Ene`` and ``RÍO ENE`` became two regions that look alike, and
    ``--region "RÍO ENE"`` did not find ``Río Ene``."""
    del installed
    assert chaski("region", "add", "Río Ene").code == 0
    twin = chaski("region", "add", "RÍO ENE")
    assert (twin.code, twin.err) == (2, "chaski: region: already exists\n")
    assert chaski("region", "add", "Pichari").code == 0
    taken = chaski("region", "rename", "PICHARI", "río ene")
    assert (taken.code, taken.err) == (2, "chaski: region: the new name is taken\n")
    created = chaski(
        "invite", "create", "--role", "informant", "--region", "RÍO ENE", "--codename", "Atoq"
    )
    assert created.code == 0, created.err
    assert chaski("members", "list", "--json", "--region", "río ene").out.count("Atoq") == 1
    assert (
        chaski("region", "rename", "RÍO ENE", "RÍO ENE").out
        == "Region renamed to RÍO ENE (audited).\n"
    )
    assert [r.split()[1:] for r in chaski("region", "list").out.splitlines()[1:]] == [
        ["Pichari"],
        ["RÍO", "ENE"],
    ]


def test_names_differing_only_in_spaces_are_one_name(
    chaski: Callable[..., Result], region: None
) -> None:
    """``Atoq  Rojo`` (two spaces, or a no-break space pasted from a spreadsheet) and
    ``Atoq Rojo`` were two members, and ``Río  Ene`` another region than ``Río Ene``: they
    look the same in a chat and in a list."""
    del region
    create = ("invite", "create", "--role", "informant", "--region", "Pichari", "--codename")
    assert chaski(*create, "Atoq  Rojo").code == 0
    assert chaski(*create, "Atoq\u00a0Rojo", "--json").code == 0  # the same one, re-enrolled
    listed = json.loads(chaski("members", "list", "--json").out)
    assert [member["codename"] for member in listed] == ["Atoq Rojo"]
    assert chaski("region", "add", "Río  Ene").out == "Region Río Ene created.\n"
    assert chaski("region", "add", "Río Ene").err == "chaski: region: already exists\n"


def test_members_list_names_an_unknown_region(chaski: Callable[..., Result], region: None) -> None:
    """``members list --region Pichary`` (a typo) said "No members match.", as if the region
    were empty; ``claims export --region`` says the region is unknown."""
    del region
    mistyped = chaski("members", "list", "--region", "Pichary")
    assert (mistyped.code, mistyped.err) == (
        2,
        "chaski: region: unknown (see chaski region list)\n",
    )
    assert chaski("members", "list", "--region", "PICHARI").out == "No members match.\n"
