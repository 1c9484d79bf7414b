"""Monitoring of the rollout: summary counters kept in the same transactions as the acts."""
