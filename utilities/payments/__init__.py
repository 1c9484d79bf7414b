"""Payments of fees (lệ phí) and fines (tiền phạt) from the app, through the citizen's bank.

Every payment happens exactly once and every state can be explained from the
ledger; see ``service`` for the rules and the README section "Payments".
"""
