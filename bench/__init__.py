"""Benchmarks (not tests): /estado throughput and the outbox sender against the fake Bot API.

Run ``python -m bench`` (both), ``python -m bench.estado`` or ``python -m bench.outbox``;
see bench/README.md and docs/performance.md. Nothing here is imported by the bot.
"""
