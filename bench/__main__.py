"""``python -m bench``: the /estado benchmark, then the outbox benchmark, with their defaults.

``--quick`` runs each /estado variant once (instead of the median of three) for a fast look.
Exit status 1 if any target is missed.
"""

from __future__ import annotations

import argparse
import asyncio
import sys

from bench import estado, outbox


def main() -> None:
    """Run both benchmarks in turn."""
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    p.add_argument("--quick", action="store_true", help="one /estado run per variant")
    args = p.parse_args()
    estado_args = estado.parser().parse_args(["--repeats", "1"] if args.quick else [])
    estado_args.keep = False
    ok = asyncio.run(estado.run(estado_args))
    print()
    outbox_args = outbox.parser().parse_args([])
    ok = asyncio.run(outbox.run(outbox_args)) and ok
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
