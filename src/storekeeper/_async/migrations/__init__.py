"""User migrations, schema validation and storage stats: one module per backend family."""
