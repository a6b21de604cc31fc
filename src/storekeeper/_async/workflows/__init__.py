"""Workflow executions and task states: one module per backend family, sharing :mod:`.base`."""
