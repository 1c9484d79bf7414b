"""Monitoring of the rollout: summary counters kept in the same transactions as the acts.

No ``service.py`` here: each module is one coherent use case, named by what it
answers. Counting, in the acts' own transactions: :mod:`.counters` (daily usage
counters, ``bump``), :mod:`.accounts` (accounts by place, level and status, moved
by a flush listener) and :mod:`.queues` (the police queues the utilities register).
Reading: :mod:`.statistics` (the raw figures, places, the daily roll-up),
:mod:`.growth` (month-over-month growth, shared by raw and published figures),
:mod:`.disclosure` (the small-count rule and its complementary suppression),
:mod:`.protected` (the three protected tables: accounts, activity, usage),
:mod:`.table_cache` (those tables built once per content of their sources) and
:mod:`.published` (what leaves the service: statistics API and dashboard).
Access: :mod:`.operators` (operators, admin tokens, dashboard sessions). Plus the
domain's usual :mod:`.models`, :mod:`.schemas` and :mod:`.errors`.
"""
