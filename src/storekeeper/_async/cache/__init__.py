"""The TTL cache: one module per backend family, sharing :mod:`.base`."""
