"""Payments of fees (lệ phí) and fines (tiền phạt) from the app, through the citizen's bank.

Every payment happens exactly once and every state can be explained from the
ledger; see ``docs/payments.md``. The use cases, one module each:
``orders`` (fees, fines, the citizen's and the officers' views), ``attempts``
(paying an order), ``callbacks`` (the provider's signed callbacks),
``reconciliation``, ``refunds`` and ``receipts``; ``settlement`` applies the
provider's word and ``flow`` holds the order's workflow and the steps they share.
"""
