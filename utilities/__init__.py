"""Utilities offered through the app: incident reports, residence declarations, payments.

They use :mod:`identity` (citizens, accounts, audit, credentials), never Flask.
"""
