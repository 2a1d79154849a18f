"""``python -m bench``: the /estado, outbox (broadcast), answer-storm and scale benchmarks in turn.

``--quick`` runs each /estado variant once (instead of the median of three) for a fast look;
``--only`` picks benchmarks (e.g. ``--only outbox storm`` for the two under Telegram's
limits). Each runs with its defaults; run ``python -m bench.<name> --help`` for options.
Exit status 1 if any target is missed.
"""

from __future__ import annotations

import argparse
import asyncio
import sys

from bench import estado, outbox, scale, storm

BENCHMARKS = ("estado", "outbox", "storm", "scale")


def main() -> None:
    """Run the chosen benchmarks in turn."""
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    p.add_argument("--quick", action="store_true", help="one /estado run per variant")
    p.add_argument("--only", nargs="+", choices=BENCHMARKS, default=list(BENCHMARKS))
    args = p.parse_args()
    ok = True
    if "estado" in args.only:
        estado_args = estado.parser().parse_args(["--repeats", "1"] if args.quick else [])
        estado_args.keep = False
        ok = asyncio.run(estado.run(estado_args)) and ok
        print()
    if "outbox" in args.only:
        ok = asyncio.run(outbox.run(outbox.parser().parse_args([]))) and ok
        print()
    if "storm" in args.only:
        ok = asyncio.run(storm.run(storm.parser().parse_args([]))) and ok
        print()
    if "scale" in args.only:
        ok = asyncio.run(scale.run(scale.parser().parse_args([]))) and ok
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
