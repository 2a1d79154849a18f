"""The bad-input suite of security.md §4, one module per section (see docs/security-tests.md)."""
