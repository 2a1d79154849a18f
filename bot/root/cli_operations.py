"""``chaski operations add|edit|list``: the operations rewards were promised for (#16.1, #16.3).

An operation's label, total, promiser and basis are stored encrypted like claim references
(M-07); adding and editing one is audited (an edit names the fields it changed, never their
values). Text cells go through ``bot.root.cli_output.cell`` (no formula or
control characters reach a terminal or a spreadsheet).
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from bot.config import Settings
from bot.domain.claims import KEEP, Keep, NewOperation, OperationUpdate
from bot.domain.errors import NotFound
from bot.domain.models import Day, Operation
from bot.domain.text import clean_text
from bot.root.cli_output import CliError, cell, out, table, to_json, wired
from bot.services import claims_import

if TYPE_CHECKING:
    from bot.root.cli import Commands


def _operation_json(operation: Operation) -> dict[str, object]:
    return {
        "id": operation.id,
        "label": operation.label,
        "date": operation.date.isoformat() if operation.date else None,
        "region": operation.region,
        "total_cents": operation.total_cents,
        "promised_by": operation.promised_by,
        "basis": operation.basis,
        "pay_by": operation.pay_by.isoformat() if operation.pay_by else None,
    }


async def _operations_add(args: argparse.Namespace, settings: Settings) -> int:
    new = NewOperation(
        label=clean_text(args.label, field="LABEL", max_len=200, multiline=False),
        date=claims_import.parse_date(args.date or "", "--date", day_first=True),
        region=args.region,
        total_cents=claims_import.parse_amount(args.total, "--total"),
        promised_by=clean_text(args.promised_by, field="--promised-by", multiline=False)
        if args.promised_by
        else None,
        basis=clean_text(args.basis, field="--basis", multiline=False) if args.basis else None,
        pay_by=claims_import.parse_date(args.pay_by or "", "--pay-by", day_first=True),
    )
    async with wired(settings) as wiring:
        try:
            operation = await wiring.services.claims_admin.add_operation(new)
        except NotFound:
            raise CliError("no region with that name (see chaski region list)") from None
    if args.json:
        out(to_json(_operation_json(operation)))
    else:
        out(f"Operation {operation.id} created.")
    return 0


def _optional_text(value: str | None, field: str) -> str | Keep | None:
    """An optional text option: absent keeps it, empty clears it."""
    if value is None:
        return KEEP
    return clean_text(value, field=field, multiline=False) if value.strip() else None


def _optional_date(value: str | None, field: str) -> Day | Keep | None:
    """An optional date option: absent keeps it, empty clears it."""
    return KEEP if value is None else claims_import.parse_date(value, field, day_first=True)


def _update(args: argparse.Namespace) -> OperationUpdate:
    """The options given, checked one by one (empty only where a field may be cleared)."""
    for name, option in (("label", "--label"), ("region", "--region"), ("total", "--total")):
        if getattr(args, name) is not None and not getattr(args, name).strip():
            raise cli_error(f"{option}: cannot be cleared; give a value")
    return OperationUpdate(
        label=KEEP
        if args.label is None
        else clean_text(args.label, field="--label", max_len=200, multiline=False),
        date=_optional_date(args.date, "--date"),
        region=KEEP if args.region is None else args.region.strip(),
        total_cents=KEEP
        if args.total is None
        else claims_import.parse_amount(args.total, "--total"),
        promised_by=_optional_text(args.promised_by, "--promised-by"),
        basis=_optional_text(args.basis, "--basis"),
        pay_by=_optional_date(args.pay_by, "--pay-by"),
    )


def cli_error(message: str) -> Exception:
    """``bot.root.CliError`` (imported late: ``bot.root.cli`` imports this module)."""
    return CliError(message)


_EDIT_OPTIONS = ("label", "date", "region", "total", "promised_by", "basis", "pay_by")


async def _operations_edit(args: argparse.Namespace, settings: Settings) -> int:
    if all(getattr(args, name) is None for name in _EDIT_OPTIONS):
        raise CliError(
            "nothing to change: give at least one of --label, --date, --region, --total,"
            " --promised-by, --basis, --pay-by"
        )
    update = _update(args)
    async with wired(settings) as wiring:
        try:
            edited = await wiring.services.claims_admin.edit_operation(args.id, update)
        except NotFound as exc:
            if str(exc) == "region":
                raise CliError("no region with that name (see chaski region list)") from None
            raise CliError("no operation with that id (see chaski operations list)") from None
    if args.json:
        out(to_json({**_operation_json(edited.operation), "changed": list(edited.changed)}))
    elif not edited.changed:
        out(f"Operation {edited.operation.id}: nothing changed.")
    else:
        out(f"Operation {edited.operation.id} changed: {', '.join(edited.changed)}.")
    return 0


def _soles(cents: int | None) -> str:
    return "-" if cents is None else f"{cents // 100}.{cents % 100:02d}"


async def _operations_list(args: argparse.Namespace, settings: Settings) -> int:
    async with wired(settings) as wiring:
        operations = await wiring.services.claims_admin.operations()
    if args.json:
        out(to_json([_operation_json(operation) for operation in operations]))
    elif not operations:
        out("No operations yet; create one with: chaski operations add")
    else:
        table(
            ("ID", "LABEL", "DATE", "REGION", "TOTAL", "PAY BY", "PROMISED BY", "BASIS"),
            [
                (
                    str(op.id),
                    cell(op.label),
                    op.date.isoformat() if op.date else "-",
                    cell(op.region),
                    _soles(op.total_cents),
                    op.pay_by.isoformat() if op.pay_by else "-",
                    cell(op.promised_by or "-"),
                    cell(op.basis or "-"),
                )
                for op in operations
            ],
        )
    return 0


def add_operations(commands: Commands) -> None:
    """``chaski operations add|edit|list`` (the parser table of ``bot.root.cli`` calls this)."""
    group = commands.add_parser(
        "operations",
        help="declare, correct and list operations",
        description="Operations are the events rewards were promised for; one operation's"
        " reward is shared among its informants' claims.",
    )
    actions = group.add_subparsers(dest="action", metavar="ACTION", required=True)
    add = actions.add_parser(
        "add",
        help="declare an operation and its total reward",
        description="Declare an operation: its label, date, region, the total reward"
        " offered (soles with a dot, e.g. 2000000 or 1500.50), who promised it, on what"
        " basis, and the payment date promised. The claims' promised shares may not add up"
        " to more than the total.",
    )
    add.add_argument("label", metavar="LABEL", help="the operation's name, e.g. 'Tornado 2016'")
    add.add_argument("--region", required=True, help="the region it took place in")
    add.add_argument(
        "--total",
        required=True,
        metavar="SOLES",
        help="total reward offered (1500.50, 1,500.50 or S/ 1,500.50)",
    )
    add.add_argument(
        "--date", metavar="DATE", help="when the operation took place (DD/MM/YYYY or YYYY-MM-DD)"
    )
    add.add_argument("--promised-by", metavar="WHO", help="who promised the reward")
    add.add_argument("--basis", metavar="TEXT", help="on what basis (flier, resolution …)")
    add.add_argument(
        "--pay-by", metavar="DATE", help="the payment date promised (DD/MM/YYYY or YYYY-MM-DD)"
    )
    add.add_argument("--json", action="store_true", help="print the operation as JSON")
    add.set_defaults(handler=_operations_add)
    edit = actions.add_parser(
        "edit",
        help="correct an operation",
        description="Correct an operation: give only what changes. An empty value clears"
        " an optional field (--date, --promised-by, --basis, --pay-by), e.g. --pay-by ''."
        " The total may not fall below what the operation's claims were promised together.",
    )
    edit.add_argument("id", metavar="ID", type=int, help="the operation's id (operations list)")
    edit.add_argument("--label", metavar="LABEL", help="the operation's new name")
    edit.add_argument(
        "--date", metavar="DATE", help="when the operation took place (DD/MM/YYYY or YYYY-MM-DD)"
    )
    edit.add_argument("--region", help="the region it took place in")
    edit.add_argument(
        "--total", metavar="SOLES", help="total reward offered (1500.50, 1,500.50 or S/ 1,500.50)"
    )
    edit.add_argument("--promised-by", metavar="WHO", help="who promised the reward")
    edit.add_argument("--basis", metavar="TEXT", help="on what basis (flier, resolution …)")
    edit.add_argument(
        "--pay-by", metavar="DATE", help="the payment date promised (DD/MM/YYYY or YYYY-MM-DD)"
    )
    edit.add_argument("--json", action="store_true", help="print the operation as JSON")
    edit.set_defaults(handler=_operations_edit)
    listing = actions.add_parser(
        "list", help="list operations", description="List every operation."
    )
    listing.add_argument("--json", action="store_true", help="print one JSON array")
    listing.set_defaults(handler=_operations_list)
