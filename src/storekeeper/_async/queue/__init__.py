"""Durable queues: one module per backend family, sharing :mod:`.base`."""
