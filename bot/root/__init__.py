"""The composition root: the ``chaski`` command line, the wiring of ports to adapters, the
PTB Application and logging. Everything else in ``bot`` (domain, services, config, i18n)
and ``handlers``/``storage`` is imported from here, never the other way round
(tests/test_architecture.py).
"""
