# Generated from src/storekeeper/_async/migrations/__init__.py by tools/gen_sync.py: do not edit.

"""User migrations, schema validation and storage stats: one module per backend family."""
