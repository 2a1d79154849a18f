"""The inbound pipeline: what every update passes before any feature sees it.

Group order (``handlers.register``), each stage able to stop the update:

* -4 ``limits.guard``: global and per-account rate limits in memory, then size caps (M-06,
  M-09, T-23, T-46): the excess is dropped without touching the database.
* -3 ``dedupe.dedupe``: each ``update_id`` applied once (R-09, T-31); the same write keeps the
  incoming message id for ``/borrar``.
* -2 ``locations.on_location`` (and ``handlers.pin.PinText`` for typed PINs): a shared
  location is deleted at once (M-09); so is a message a member edited into a PIN (T-09:
  edits are received for this alone).
* -1 ``gatekeeper.gatekeeper``: groups left, forged, forwarded and edited updates dropped
  (T-08, T-09), before the features (group 0) and their ``requires`` gate
  (``handlers.access``).
"""
