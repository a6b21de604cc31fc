"""Checkpoints: one module per backend family, sharing :mod:`.base`."""
