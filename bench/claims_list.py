"""``/reclamos`` with many claims in one region (docs/performance.md, Other measurements).

Usage (from the repository root)::

    .venv/bin/python -m bench.claims_list                # 10,000 claims in one region
    .venv/bin/python -m bench.claims_list --claims 2000

Builds a fresh database in a temporary folder (the real storage, keys and services), imports
``--claims`` claims of one informant in one region, then times what ``/reclamos`` asks of
the service for a coordinator of that region (``ClaimAdminService.list_claims``: ordered and
cut to 20 in SQLite, only those 20 decrypted), and, in the same run, what it did before
(every claim of the region read and decrypted, sorted overdue first in Python, 20 kept).
Prints one Markdown table.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import tempfile
import time
from pathlib import Path

from bot.config import Settings
from bot.domain.models import Role
from bot.root.wiring import open_wiring
from bot.services.claims_admin import MAX_FOUND, overdue_first
from storage.claims import SqliteClaimRepository

HEADER = (
    "reference,codename,operation,operation_date,region,promised_amount,status,"
    "promised_date,next_step,next_step_date\n"
)


async def _run(claims: int, repeats: int) -> list[tuple[str, str]]:
    wiring = await open_wiring(Settings.from_env(need_token=False), create=True)
    try:
        services = wiring.services
        await services.invites.add_region("Pichari")
        informant = await services.invites.create(
            role=Role.INFORMANT, region="Pichari", codename="Puma", ttl_hours=72
        )
        staff = await services.invites.create(
            role=Role.COORDINATOR, region="Pichari", codename="Jefe", ttl_hours=72
        )
        await services.registration.redeem(7_000_000_001, informant.code)
        coordinator = await services.registration.redeem(7_000_000_002, staff.code)
        rows = "".join(
            f"R-{n:06d},Puma,Operación {n % 50},2016-02-10,Pichari,{1000 + n % 500},"
            f"under_review,20{16 + n % 10}-06-01,Firma del acta,2026-0{1 + n % 9}-15\n"
            for n in range(claims)
        )
        started = time.perf_counter()
        await services.claims_import.import_file((HEADER + rows).encode())
        seeded = time.perf_counter() - started
        admin = services.claims_admin
        repository = SqliteClaimRepository(wiring.db, wiring.keys)
        listing: list[float] = []
        reading: list[float] = []
        for _ in range(repeats):
            started = time.perf_counter()
            found = await admin.list_claims(coordinator)
            listing.append(time.perf_counter() - started)
            assert len(found) == 20
            started = time.perf_counter()
            every = await repository.in_regions(["Pichari"])
            before = overdue_first(every, admin.clock.today())[:MAX_FOUND]
            reading.append(time.perf_counter() - started)
            assert [c.id for c in before] == [c.id for c in found]
        return [
            ("claims in the region", f"{claims:,}"),
            ("import of the file (seeding)", f"{seeded:.1f} s"),
            (
                "`list_claims` (what /reclamos waits for), median / max",
                f"{statistics.median(listing) * 1000:.0f} ms / {max(listing) * 1000:.0f} ms",
            ),
            (
                "before: every claim read and decrypted, sorted in Python (`in_regions`),"
                " median / max",
                f"{statistics.median(reading) * 1000:.0f} ms / {max(reading) * 1000:.0f} ms",
            ),
        ]
    finally:
        await wiring.close()


def main() -> None:
    """Parse the options, run in a temporary folder, print the table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--claims", type=int, default=10_000)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        os.environ["CHASKI_DB"] = str(Path(folder) / "data" / "chaski.sqlite3")
        os.environ["CHASKI_KEY_DIR"] = str(Path(folder) / "keys")
        table = asyncio.run(_run(args.claims, args.repeats))
    print("| What | Figure |\n|---|---|")
    for what, figure in table:
        print(f"| {what} | {figure} |")


if __name__ == "__main__":
    main()
