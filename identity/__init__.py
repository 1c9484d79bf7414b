"""The identity core: population registry, accounts, credentials, relying parties, audit.

This package never imports Flask. It runs inside the service, in the CLI and
inside a bank's offline verifier.
"""
