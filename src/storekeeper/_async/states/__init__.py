"""Versioned component state: one module per backend family, sharing :mod:`.base`."""
