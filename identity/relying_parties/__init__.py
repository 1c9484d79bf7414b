"""Relying parties (banks, telcos, hotels): what they may learn of a citizen, and how.

Use-case modules, each named by what it does: :mod:`.parties` (the operator's acts on
parties, client authentication, scopes and daily quotas), :mod:`.matching` (identity match
and SIM verification without disclosure), :mod:`.consents` (consent requests, the citizen's
decision, the one-time delivery), :mod:`.sharing` (data shares and erasure requests) and
:mod:`.callbacks` (where consent callbacks may go, their signature and delivery).
:mod:`.access_log` holds what they share: the party as actor, and a look at a citizen in
the citizen's access log. Plus the domain's :mod:`.models`, :mod:`.schemas` and :mod:`.errors`.
"""
