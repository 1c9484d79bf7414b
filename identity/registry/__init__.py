"""The population registry: citizens by 12-digit personal id, residence, households, imports."""
