"""Dependencies point inwards (docs/architecture.md §1): enforced by scanning imports."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
#: The composition root: the one package that may import everything (docs/architecture.md §1).
COMPOSITION_ROOT = "bot.root"
#: ``python -m bot``: a two-line entry into the root.
ENTRY_POINT = "bot.__main__"

FORBIDDEN: dict[str, set[str]] = {
    "bot.domain": {
        "telegram",
        "aiosqlite",
        "sqlite3",
        "babel",
        "handlers",
        "storage",
        "bot.services",
        "bot.i18n",
        "bot.root",
        "bot.config",
        "cryptography",
    },
    "bot.services": {
        "telegram",
        "aiosqlite",
        "sqlite3",
        "babel",
        "handlers",
        "storage",
        "bot.i18n",
        "bot.root",
        "bot.config",
        "cryptography",
    },
    "bot.i18n": {"telegram", "aiosqlite", "sqlite3", "handlers", "storage", "bot.root"},
    "bot.config": {"telegram", "aiosqlite", "sqlite3", "handlers", "storage", "bot.root"},
    "handlers": {
        "aiosqlite",
        "sqlite3",
        "storage",
        "bot.root",
        "bot.config",
        "cryptography",
    },
    "storage": {
        "telegram",
        "babel",
        "handlers",
        "bot.services",
        "bot.i18n",
        "bot.root",
        "bot.config",
    },
}


def _in_root(module: str) -> bool:
    return module in {COMPOSITION_ROOT, ENTRY_POINT} or module.startswith(COMPOSITION_ROOT + ".")


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> tuple[set[str], int]:
    found: set[str] = set()
    relative = 0
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                relative += 1
            elif node.module:
                found.add(node.module)
                found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found, relative


def _sources() -> list[Path]:
    return [
        p for pkg in ("bot", "handlers", "storage") for p in sorted((ROOT / pkg).rglob("*.py"))
    ]


def _violations() -> list[str]:
    problems: list[str] = []
    for path in _sources():
        module = _module_name(path)
        if _in_root(module):
            continue
        banned: set[str] = set()
        for prefix, bad in FORBIDDEN.items():
            if module == prefix or module.startswith(prefix + "."):
                banned |= bad
        imports, _ = _imports(path)
        problems += [
            f"{module} imports {name}"
            for name in sorted(imports)
            for bad in sorted(banned)
            if name == bad or name.startswith(bad + ".")
        ]
    return problems


def test_dependencies_point_inwards() -> None:
    assert _violations() == []


def test_only_the_entry_point_imports_the_composition_root() -> None:
    """Every folder arrow points down: nothing outside ``bot.root`` (but ``python -m bot``)
    imports it, so domain, services, config, i18n, handlers and storage never see the shell."""
    offenders = [
        f"{module} imports {name}"
        for path in _sources()
        if not _in_root(module := _module_name(path))
        for name in sorted(_imports(path)[0])
        if name == COMPOSITION_ROOT or name.startswith(COMPOSITION_ROOT + ".")
    ]
    assert offenders == []


def test_the_composition_root_is_a_folder_of_its_own() -> None:
    """The shell modules live under ``bot/root/``, not beside the core in ``bot/``."""
    shell = {"app", "wiring", "cli", "cli_status", "logging_setup"}
    assert {p.stem for p in (ROOT / "bot").glob("*.py")} & shell == set()
    assert {p.stem for p in (ROOT / "bot" / "root").glob("*.py")} >= shell


def test_no_relative_imports() -> None:
    assert [str(p) for p in _sources() if _imports(p)[1]] == []


def test_the_scan_sees_a_violation(tmp_path: Path) -> None:
    bad = tmp_path / "x.py"
    bad.write_text("import telegram\nfrom storage.database import Database\n", encoding="utf-8")
    imports, _ = _imports(bad)
    assert {"telegram", "storage.database"} <= imports


def test_no_sql_outside_storage() -> None:
    offenders = [
        str(path.relative_to(ROOT))
        for path in _sources()
        if not _module_name(path).startswith("storage")
        and any(
            word in path.read_text(encoding="utf-8")
            for word in ("SELECT ", "INSERT INTO", "UPDATE ", "DELETE FROM")
        )
    ]
    assert offenders == []


#: The one module allowed PTB's private names: the ``BaseRequest`` subclass needs the type of
#: the timeout arguments of ``do_request``, which PTB does not publish (``telegram.request``
#: has everything else). Everything else uses PTB's public, documented API.
PTB_PRIVATE_ALLOWED = frozenset({"handlers.transport.http"})
#: Every folder of Python code in the repository.
ALL_CODE = ("bot", "handlers", "storage", "bench", "tests", "scripts")


def _is_ptb_private(name: str) -> bool:
    """``telegram._utils.types``, ``telegram.request._requestparameter`` … (not dunders)."""
    parts = name.split(".")
    return parts[0] == "telegram" and any(
        part.startswith("_") and not (part.startswith("__") and part.endswith("__"))
        for part in parts[1:]
    )


def _ptb_private_imports(paths: list[Path]) -> list[str]:
    return [
        f"{_module_name(path)} imports {name}"
        for path in paths
        if _module_name(path) not in PTB_PRIVATE_ALLOWED
        for name in sorted(_imports(path)[0])
        if _is_ptb_private(name)
    ]


def test_ptb_private_modules_only_in_the_transport() -> None:
    code = [p for folder in ALL_CODE for p in sorted((ROOT / folder).rglob("*.py"))]
    assert _ptb_private_imports(code) == []


def test_the_scan_sees_a_private_ptb_import(tmp_path: Path) -> None:
    bad = tmp_path / "handlers" / "x.py"
    bad.parent.mkdir()
    bad.write_text(
        "from telegram._utils.types import JSONDict\n"
        "from telegram.request._requestparameter import RequestParameter\n"
        "from telegram import __version__, Update\n",
        encoding="utf-8",
    )
    imports, _ = _imports(bad)
    assert sorted(name for name in imports if _is_ptb_private(name)) == [
        "telegram._utils.types",
        "telegram._utils.types.JSONDict",
        "telegram.request._requestparameter",
        "telegram.request._requestparameter.RequestParameter",
    ]


#: What handlers must not reach (issue #10.6): the unit of work and its repositories, the
#: outbox, the deletion scheduler, the sender itself. A handler calls a use case that owns
#: its transaction; the sender's start and stop are ``services.sending``.
HANDLER_FORBIDDEN_ATTRIBUTES = frozenset({"uow", "outbox", "deletions", "outbox_sender"})


def _forbidden_attributes(root: Path) -> list[str]:
    """``x.uow``, ``services.outbox`` … under ``root/handlers`` (whatever ``x`` is: a
    service's ``.uow`` is as much a way around the use cases as ``services.uow``)."""
    return sorted(
        f"{path.relative_to(root).as_posix()}:{node.lineno} .{node.attr}"
        for path in (root / "handlers").rglob("*.py")
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        if isinstance(node, ast.Attribute) and node.attr in HANDLER_FORBIDDEN_ATTRIBUTES
    )


def test_handlers_see_use_cases_only() -> None:
    assert _forbidden_attributes(ROOT) == []


def test_the_scan_sees_a_handler_reaching_a_port(tmp_path: Path) -> None:
    bad = tmp_path / "handlers" / "x.py"
    bad.parent.mkdir()
    bad.write_text(
        "async def f(context):\n"
        "    async with context.services.uow.transaction():\n"
        "        await context.services.deletions.schedule_deletion(1, [2], None)\n"
        "    await context.services.safety.uow.outbox.enqueue(None)\n"
        "    services = context.services\n"
        "    await services.outbox_sender.housekeeping()\n"
        "    from bot.domain.outbox import Outcome\n",  # a module name is no attribute
        encoding="utf-8",
    )
    assert _forbidden_attributes(tmp_path) == [
        "handlers/x.py:2 .uow",
        "handlers/x.py:3 .deletions",
        "handlers/x.py:4 .outbox",
        "handlers/x.py:4 .uow",
        "handlers/x.py:6 .outbox_sender",
    ]
