"""Component and port metrics: one module per backend family, sharing :mod:`.base`."""
