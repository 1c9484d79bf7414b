"""The append-only, hash-chained audit log (see :mod:`identity.audit.service`)."""
