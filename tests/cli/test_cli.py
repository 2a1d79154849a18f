"""The ``chaski`` administration CLI, run in-process against a real database in ``tmp_path``.

Each test calls ``bot.root.cli.main`` like the console script does and reads stdout/stderr; effects
are checked through the services (never SQL), so a test fails if a command reports success but
changed nothing, or reports failure but changed something.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tomllib
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.domain.errors import InviteRejected
from bot.domain.models import Claim, ClaimStatus, Member, MemberState, Role
from bot.domain.pin import PinPass
from bot.services.container import Services
from tests.cli.harness import Result, members, with_services

ROOT = Path(__file__).resolve().parents[2]
CODE = re.compile(r"[A-Za-z0-9_-]{43}")
#: A Telegram ID distinctive enough that finding its digits in output means it leaked.
TELEGRAM_ID = 7_031_415_926

HEADER = (
    "reference,codename,operation,operation_date,region,promised_amount,status,"
    "promised_date,next_step,next_step_date\n"
)


def redeem(code: str, telegram_id: int = TELEGRAM_ID) -> Member:
    async def link(services: Services) -> Member:
        return await services.registration.redeem(telegram_id, code)

    return with_services(link)


def claims_of(member: Member) -> list[Claim]:
    async def listing(services: Services) -> list[Claim]:
        return await services.claims.list_for(member, PinPass())

    return with_services(listing)


def one_error_line(result: Result) -> str:
    """The single ``chaski: …`` line a failed command must print (no traceback)."""
    assert result.code == 2
    assert len(result.err_lines) == 1, result.err
    assert result.err_lines[0].startswith("chaski: ")
    assert "Traceback" not in result.err
    return result.err_lines[0]


def create_invite(chaski: Callable[..., Result], codename: str, *extra: str) -> dict[str, str]:
    result = chaski(
        "invite",
        "create",
        "--role",
        "informant",
        "--region",
        "Ayacucho",
        "--codename",
        codename,
        "--json",
        *extra,
    )
    assert result.code == 0, result.err
    doc: dict[str, str] = json.loads(result.out)
    return doc


@pytest.fixture
def region(chaski: Callable[..., Result], installed: None) -> str:
    del installed
    result = chaski("region", "add", "Ayacucho")
    assert result.code == 0, result.err
    return "Ayacucho"


# --- help and entry point -------------------------------------------------------------------

COMMAND_PATHS = [
    [],
    ["run"],
    ["migrate"],
    ["region"],
    ["region", "add"],
    ["region", "list"],
    ["invite"],
    ["invite", "create"],
    ["invite", "create-batch"],
    ["claims"],
    ["claims", "import"],
    ["members"],
    ["members", "list"],
]


@pytest.mark.parametrize("path", COMMAND_PATHS, ids=lambda p: " ".join(p) or "chaski")
def test_every_command_has_help_and_touches_nothing(
    path: list[str], chaski: Callable[..., Result], env: Path
) -> None:
    result = chaski(*path, "--help")
    assert result.code == 0
    assert result.out.startswith(f"usage: {' '.join(['chaski', *path])}")
    assert result.err == ""
    assert not (env / "data").exists()
    assert not (env / "keys").exists()


@pytest.mark.parametrize("group", ["region", "invite", "claims", "members"])
def test_group_without_action_is_one_line_usage_error(
    group: str, chaski: Callable[..., Result]
) -> None:
    line = one_error_line(chaski(group))
    assert "ACTION" in line
    assert f"chaski {group} --help" in line


def test_unknown_command_is_one_line_usage_error(chaski: Callable[..., Result]) -> None:
    line = one_error_line(chaski("frobnicate"))
    assert "frobnicate" in line


def test_console_script_entry_point_is_main() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    assert project["project"]["scripts"]["chaski"] == "bot.root.cli:main"


def test_entry_point_runs_as_a_subprocess() -> None:
    script = Path(sys.executable).with_name("chaski")
    argv = [str(script)] if script.exists() else [sys.executable, "-m", "bot"]
    done = subprocess.run(  # noqa: S603 - our own interpreter and script, fixed arguments
        [*argv, "invite", "create", "--help"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "usage: chaski invite create" in done.stdout
    assert "--codename" in done.stdout


# --- run and migrate ------------------------------------------------------------------------


@pytest.mark.parametrize("argv", [["run"], []], ids=["run", "default"])
def test_run_without_token_names_the_variable(
    argv: list[str], chaski: Callable[..., Result], env: Path
) -> None:
    line = one_error_line(chaski(*argv))
    assert "TELEGRAM_BOT_TOKEN" in line
    assert not (env / "data").exists()


def test_migrate_creates_the_database_once(chaski: Callable[..., Result], env: Path) -> None:
    first = chaski("migrate")
    assert first.code == 0
    assert "is up to date" in first.out
    assert (env / "data" / "chaski.sqlite3").is_file()
    assert chaski("migrate").code == 0
    assert members() == []


def test_key_folder_inside_database_folder_is_refused(
    chaski: Callable[..., Result], env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CHASKI_KEY_DIR", str(env / "data"))
    line = one_error_line(chaski("migrate"))
    assert "CHASKI_KEY_DIR" in line


# --- region ---------------------------------------------------------------------------------


def test_region_add_and_list(chaski: Callable[..., Result], installed: None) -> None:
    del installed
    assert chaski("region", "add", "Ayacucho").out == "Region Ayacucho created.\n"
    assert chaski("region", "add", "  Junín ").out == "Region Junín created.\n"
    listing = chaski("region", "list")
    assert listing.code == 0
    assert listing.out.splitlines() == ["ID  NAME", "1   Ayacucho", "2   Junín"]
    as_json = json.loads(chaski("region", "list", "--json").out)
    assert as_json == [{"id": 1, "name": "Ayacucho"}, {"id": 2, "name": "Junín"}]


def test_region_list_empty(chaski: Callable[..., Result], installed: None) -> None:
    del installed
    assert "No regions yet" in chaski("region", "list").out
    assert json.loads(chaski("region", "list", "--json").out) == []


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("ayacucho", "already exists"),
        ("AYACUCHO", "already exists"),
        ("Aya\u202ecucho", "U+202E"),
        ("Aya\u200bcucho", "U+200B"),
        ("\u0410yacucho", "scripts"),  # first letter Cyrillic
        ("   ", "empty"),
        ("x" * 65, "longer than 64"),
        ("'; DROP TABLE regions;--", ""),  # accepted literally (T-26)
    ],
)
def test_region_add_refuses_bad_names(
    name: str, reason: str, chaski: Callable[..., Result], region: str
) -> None:
    result = chaski("region", "add", name)
    names = [r["name"] for r in json.loads(chaski("region", "list", "--json").out)]
    if not reason:
        assert result.code == 0
        assert names == sorted([region, name])
        return
    assert reason in one_error_line(result)
    assert names == [region]


# --- invite create --------------------------------------------------------------------------


def test_invite_create_text_prints_code_once_warning(
    chaski: Callable[..., Result], region: str
) -> None:
    result = chaski(
        "invite", "create", "--role", "informant", "--region", region, "--codename", "Puma"
    )
    assert result.code == 0, result.err
    lines = result.out.splitlines()
    code_line = next(line for line in lines if line.startswith("Code:"))
    code = code_line.split()[-1]
    assert CODE.fullmatch(code)
    assert "https://" not in result.out
    assert "--bot-username" in result.out
    assert any(line.startswith("Expires:") and "America/Lima" in line for line in lines)
    assert "shown only this once" in result.err
    assert redeem(code).codename == "Puma"


def test_invite_create_json_without_username(chaski: Callable[..., Result], region: str) -> None:
    before = datetime.now(UTC)
    result = chaski(
        "invite",
        "create",
        "--role",
        "coordinator",
        "--region",
        region,
        "--codename",
        "Kuntur",
        "--language",
        "qu",
        "--ttl-hours",
        "5",
        "--json",
    )
    after = datetime.now(UTC)
    assert result.code == 0, result.err
    doc = json.loads(result.out)
    assert set(doc) == {"code", "link", "expires_at"}
    assert CODE.fullmatch(doc["code"])
    assert doc["link"] is None
    expires = datetime.fromisoformat(doc["expires_at"])
    assert expires.tzinfo is not None
    five = timedelta(hours=5)
    assert before + five - timedelta(seconds=1) <= expires <= after + five
    assert "shown only this once" in result.err
    # The operator is told what a Quechua member will see under the release gate.
    assert "Quechua drafts off:" in result.err
    assert "Quechua members see the other" in result.err
    member = redeem(doc["code"])
    assert (member.role, member.lang, member.lang_chosen) == (Role.COORDINATOR, "qu", True)
    assert member.regions == (region,)


def test_invite_default_ttl_is_72_hours(chaski: Callable[..., Result], region: str) -> None:
    del region
    before = datetime.now(UTC)
    doc = create_invite(chaski, "Puma")
    expires = datetime.fromisoformat(doc["expires_at"])
    assert timedelta(hours=71, minutes=59) < expires - before <= timedelta(hours=72, seconds=5)


def test_invite_link_from_option_or_environment(
    chaski: Callable[..., Result], region: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    del region
    doc = create_invite(chaski, "Puma", "--bot-username", "@chaski_bot")
    assert doc["link"] == f"https://t.me/chaski_bot?start={doc['code']}"
    monkeypatch.setenv("CHASKI_BOT_USERNAME", "env_bot")
    doc = create_invite(chaski, "Waman")
    assert doc["link"] == f"https://t.me/env_bot?start={doc['code']}"
    doc = create_invite(chaski, "Atoq", "--bot-username", "other_bot")
    assert doc["link"] == f"https://t.me/other_bot?start={doc['code']}"
    text = chaski(
        "invite", "create", "--role", "admin", "--region", "Ayacucho", "--codename", "Kuntur"
    )
    link = next(line for line in text.out.splitlines() if line.startswith("Link:"))
    assert re.fullmatch(r"Link:\s+https://t\.me/env_bot\?start=[A-Za-z0-9_-]{43}", link)


def test_bad_bot_username_is_refused(
    chaski: Callable[..., Result], region: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    del region
    line = one_error_line(
        chaski(
            "invite",
            "create",
            "--role",
            "informant",
            "--region",
            "Ayacucho",
            "--codename",
            "Puma",
            "--bot-username",
            "9bad name",
        )
    )
    assert "--bot-username" in line
    monkeypatch.setenv("CHASKI_BOT_USERNAME", "bad-name!")
    assert "CHASKI_BOT_USERNAME" in one_error_line(chaski("members", "list"))
    monkeypatch.delenv("CHASKI_BOT_USERNAME")
    assert members() == []


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"--role": "boss"}, "--role"),
        ({"--language": "en"}, "--language"),
        ({"--ttl-hours": "0"}, "ttl-hours"),
        ({"--ttl-hours": "1000"}, "ttl-hours"),
        ({"--ttl-hours": "many"}, "--ttl-hours"),
        ({"--codename": "Pu\u202ema"}, "U+202E"),
        ({"--codename": "Pu\u2066ma"}, "U+2066"),
        ({"--codename": "\u0420um\u0430"}, "scripts"),  # Cyrillic Er and A, Latin u and m
        ({"--codename": "Pu\x00ma"}, "U+0000"),
        ({"--codename": ""}, "empty"),
        ({"--region": "Cusco"}, "region"),
    ],
)
def test_invite_create_refuses_bad_input_and_changes_nothing(
    change: dict[str, str], reason: str, chaski: Callable[..., Result], region: str
) -> None:
    options = {"--role": "informant", "--region": region, "--codename": "Puma"} | change
    argv = [part for pair in options.items() for part in pair]
    result = chaski("invite", "create", *argv)
    assert reason in one_error_line(result)
    assert result.out == ""
    assert members() == []


def test_duplicate_codename_is_refused(chaski: Callable[..., Result], region: str) -> None:
    del region
    create_invite(chaski, "Puma")
    result = chaski(
        "invite", "create", "--role", "admin", "--region", "Ayacucho", "--codename", "Puma"
    )
    assert "already taken" in one_error_line(result)
    assert [(m.codename, m.role) for m in members()] == [("Puma", Role.INFORMANT)]


def test_invite_code_is_one_time(chaski: Callable[..., Result], region: str) -> None:
    del region
    code = create_invite(chaski, "Puma")["code"]
    assert redeem(code).codename == "Puma"
    with pytest.raises(InviteRejected):
        redeem(code, telegram_id=TELEGRAM_ID + 1)


# --- invite create-batch --------------------------------------------------------------------


def batch(chaski: Callable[..., Result], path: Path, *extra: str) -> Result:
    return chaski(
        "invite",
        "create-batch",
        "--role",
        "informant",
        "--region",
        "Ayacucho",
        "--codenames",
        str(path),
        *extra,
    )


def test_batch_creates_one_invite_per_line(
    chaski: Callable[..., Result], region: str, tmp_path: Path
) -> None:
    del region
    names = tmp_path / "names.txt"
    names.write_text("Kuntur\r\nWaman\n\n  Atoq  \n", encoding="utf-8")
    result = batch(chaski, names)
    assert result.code == 0, result.err
    rows = [line.split("\t") for line in result.out.splitlines()]
    assert [row[0] for row in rows] == ["Kuntur", "Waman", "Atoq"]
    assert all(CODE.fullmatch(row[1]) for row in rows)
    assert len({row[1] for row in rows}) == 3
    assert all(datetime.fromisoformat(row[2]).tzinfo is not None for row in rows)
    assert [row[3] for row in rows] == ["-", "-", "-"]
    assert "shown only this once" in result.err
    assert "3 invite(s) created" in result.err
    assert [m.codename for m in members()] == ["Kuntur", "Waman", "Atoq"]
    assert redeem(rows[1][1]).codename == "Waman"


def test_batch_json_one_object_per_line(
    chaski: Callable[..., Result], region: str, tmp_path: Path
) -> None:
    del region
    names = tmp_path / "names.txt"
    names.write_bytes("\ufeffKuntur\nWaman\n".encode())
    result = batch(chaski, names, "--json", "--bot-username", "chaski_bot", "--language", "es")
    assert result.code == 0, result.err
    docs = [json.loads(line) for line in result.out.splitlines()]
    assert [set(doc) for doc in docs] == [{"codename", "code", "link", "expires_at"}] * 2
    assert [doc["codename"] for doc in docs] == ["Kuntur", "Waman"]
    for doc in docs:
        assert doc["link"] == f"https://t.me/chaski_bot?start={doc['code']}"
        datetime.fromisoformat(doc["expires_at"])
    assert all(m.lang_chosen for m in members())


def test_batch_with_bad_lines_creates_nothing(
    chaski: Callable[..., Result], region: str, tmp_path: Path
) -> None:
    del region
    redeem(create_invite(chaski, "Puma")["code"])  # linked: cannot be re-enrolled (#14.7)
    names = tmp_path / "names.txt"
    names.write_text("Kuntur\nWa\u202eman\n\u0420um\u0430\nKuntur\nPuma\nAtoq\n", encoding="utf-8")
    result = batch(chaski, names)
    assert result.code == 2
    assert result.out == ""
    assert result.err_lines[:4] == [
        "line 2: codename: contains a hidden or control character U+202E",
        "line 3: codename: mixes letters of 2 scripts",
        "line 4: codename: repeats line 1",
        "line 5: codename: already taken",
    ]
    assert "line 1:" not in result.err
    assert "line 6:" not in result.err
    assert result.err_lines[-1].startswith("chaski: no invite created:")
    assert [m.codename for m in members()] == ["Puma"]


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"Kuntur\n\xff\xfeWaman\n", "file: file is not UTF-8 text"),
        (b"\n\n  \n", "empty"),
        (b"", "empty"),
    ],
)
def test_batch_refuses_unusable_files(
    content: bytes, reason: str, chaski: Callable[..., Result], region: str, tmp_path: Path
) -> None:
    del region
    names = tmp_path / "names.txt"
    names.write_bytes(content)
    result = batch(chaski, names)
    assert result.code == 2
    assert reason in result.err
    assert members() == []


def test_batch_missing_file_or_unknown_region(
    chaski: Callable[..., Result], region: str, tmp_path: Path
) -> None:
    del region
    assert "no such file" in one_error_line(batch(chaski, tmp_path / "absent.txt"))
    names = tmp_path / "names.txt"
    names.write_text("Kuntur\n", encoding="utf-8")
    result = chaski(
        "invite",
        "create-batch",
        "--role",
        "informant",
        "--region",
        "Cusco",
        "--codenames",
        str(names),
    )
    assert "region: unknown" in one_error_line(result)
    assert "ttl-hours" in one_error_line(batch(chaski, names, "--ttl-hours", "73"))
    assert members() == []


# --- claims import --------------------------------------------------------------------------

GOOD_ROWS = (
    "R-2016-0001,Puma,Operación Halcón,2016-02-10,Ayacucho,1500.50,approved,2016-06-01,"
    "Firma del acta,2016-05-15\n"
    "r-2016-0002,Puma,Operación Halcón,2016-02-10,Ayacucho,300,registered,,,\n"
)


@pytest.fixture
def informant(chaski: Callable[..., Result], region: str) -> Member:
    del region
    return redeem(create_invite(chaski, "Puma")["code"])


def test_claims_import_and_idempotent_reimport(
    chaski: Callable[..., Result], informant: Member, tmp_path: Path
) -> None:
    csv_file = tmp_path / "claims.csv"
    csv_file.write_text(HEADER + GOOD_ROWS, encoding="utf-8")
    first = chaski("claims", "import", str(csv_file))
    assert first.code == 0, first.err
    assert first.out == "Imported: 2 created, 0 updated, 0 unchanged.\n"
    again = chaski("claims", "import", str(csv_file))
    assert again.out == "Imported: 0 created, 0 updated, 2 unchanged.\n"
    claims = {claim.reference: claim for claim in claims_of(informant)}
    assert set(claims) == {"R-2016-0001", "R-2016-0002"}
    assert claims["R-2016-0001"].promised_cents == 150050
    assert claims["R-2016-0001"].status is ClaimStatus.APPROVED
    assert claims["R-2016-0002"].promised_cents == 30000

    csv_file.write_text(
        HEADER + GOOD_ROWS.replace("300,registered", "300,under_review"), encoding="utf-8"
    )
    changed = chaski("claims", "import", str(csv_file))
    assert changed.out == "Imported: 0 created, 1 updated, 1 unchanged.\n"
    statuses = {claim.reference: claim.status for claim in claims_of(informant)}
    assert statuses["R-2016-0002"] is ClaimStatus.UNDER_REVIEW


def test_claims_import_with_bad_rows_imports_nothing(
    chaski: Callable[..., Result], informant: Member, tmp_path: Path
) -> None:
    rows = [
        "R-1,Puma,Op,2016-02-10,Ayacucho,100,registered,,,",  # 2: good
        'R-2,Puma,Op,2016-02-10,Ayacucho,"1000,00",registered,,,',  # 3: decimal comma
        "R-3,Puma,Op,2016-02-10,Ayacucho,100,pagado,,,",  # 4: status
        "R-4,Nadie,Op,2016-02-10,Ayacucho,100,registered,,,",  # 5: codename
        "R-5,Puma,Op,2016-02-30,Ayacucho,100,registered,,,",  # 6: date
        "r-1,Puma,Op,2016-02-10,Ayacucho,100,registered,,,",  # 7: duplicate
        "R-7,Puma,Op,2016-02-10,Ayacucho,100,registered",  # 8: fields
        "R-8,Puma,Op,2016-02-10,Ayacucho,100.005,registered,,,",  # 9: decimals
        "R-9,Puma,Op,2016-02-10,Cusco,100,registered,,,",  # 10: region
    ]
    csv_file = tmp_path / "claims.csv"
    csv_file.write_text(HEADER + "\n".join(rows) + "\n", encoding="utf-8")
    result = chaski("claims", "import", str(csv_file))
    assert result.code == 2
    assert result.out == ""
    reported = [line for line in result.err_lines if line.startswith("line ")]
    assert [int(line.split(":")[0].split()[1].rstrip(",")) for line in reported] == list(
        range(3, 11)
    )
    assert "promised_amount: a comma cannot mark the decimals" in reported[0]
    assert "status" in reported[1]
    assert "codename" in reported[2]
    assert "operation_date: not a real date" in reported[3]
    assert "repeats line 2" in reported[4]
    assert "wrong number of fields" in reported[5]
    assert "promised_amount" in reported[6]
    assert "region" in reported[7]
    assert result.err_lines[-1] == f"chaski: nothing imported: 8 bad line(s) in {csv_file}"
    assert claims_of(informant) == []


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"reference,codename\n\xff\xfe,\n", "file: file is not UTF-8 text"),
        (b"", "empty"),
        (b"  \n", "empty"),
        (HEADER.encode(), "line 1: no rows"),
        (b"reference,codename\nR-1,Puma\n", "line 1: missing column(s)"),
    ],
)
def test_claims_import_refuses_unusable_files(
    content: bytes, reason: str, chaski: Callable[..., Result], informant: Member, tmp_path: Path
) -> None:
    csv_file = tmp_path / "claims.csv"
    csv_file.write_bytes(content)
    result = chaski("claims", "import", str(csv_file))
    assert result.code == 2
    assert reason in result.err
    assert "Traceback" not in result.err
    assert claims_of(informant) == []


def test_claims_import_missing_file_or_folder(
    chaski: Callable[..., Result], tmp_path: Path, env: Path
) -> None:
    assert "no such file" in one_error_line(chaski("claims", "import", str(tmp_path / "x.csv")))
    assert "folder" in one_error_line(chaski("claims", "import", str(tmp_path)))
    assert not (env / "data").exists()


# --- members list ---------------------------------------------------------------------------


def test_members_list_never_shows_telegram_ids(
    chaski: Callable[..., Result], informant: Member, tmp_path: Path
) -> None:
    del tmp_path
    assert informant.telegram_linked
    chaski("region", "add", "Junín")
    create_invite(chaski, "Kuntur", "--role", "coordinator", "--language", "qu")
    text = chaski("members", "list")
    assert text.code == 0
    lines = text.out.splitlines()
    assert lines[0].split() == [
        "ID",
        "ROLE",
        "CODENAME",
        "LANGUAGE",
        "REGIONS",
        "STATE",
        "LINKED",
        "BLOCKED",
        "SEEN",
    ]
    assert lines[1].split() == [
        "1", "informant", "Puma", "es", "Ayacucho", "active", "yes", "no", "-"
    ]  # fmt: skip
    assert lines[2].split() == [
        "2",
        "coordinator",
        "Kuntur",
        "qu",
        "Ayacucho",
        "active",
        "no",
        "no",
        "-",
    ]
    column = lines[0].index("CODENAME")
    assert lines[1][column:].startswith("Puma ")
    assert lines[2][column:].startswith("Kuntur ")
    docs = json.loads(chaski("members", "list", "--json").out)
    assert docs[0] == {
        "id": 1,
        "role": "informant",
        "codename": "Puma",
        "language": "es",
        "regions": ["Ayacucho"],
        "state": str(MemberState.ACTIVE),
        "linked": True,
        "blocked": False,
        "last_seen": None,
    }
    assert docs[1]["linked"] is False
    for output in (text.out, json.dumps(docs)):
        assert str(TELEGRAM_ID) not in output
        assert "7031415926" not in output.replace(",", "").replace(" ", "")


def test_members_list_empty(chaski: Callable[..., Result], installed: None) -> None:
    del installed
    assert "No members yet" in chaski("members", "list").out
    assert chaski("members", "list", "--json").out == "[]\n"


def test_invite_for_quechua_with_drafts_on_warns(
    chaski: Callable[..., Result], region: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CHASKI_QUECHUA_DRAFTS", "on")
    args = ("--role", "informant", "--region", region, "--language")
    result = chaski("invite", "create", *args, "qu", "--codename", "Kuntur")
    assert result.code == 0, result.err
    assert "Quechua drafts ON (CHASKI_QUECHUA_DRAFTS=on)" in result.err
    spanish = chaski("invite", "create", *args, "es", "--codename", "Puma")
    assert "Quechua" not in spanish.err
