"""The schema of ``schema/`` in the handler: its model and validation, its wording, its loader and checks."""
