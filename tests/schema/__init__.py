"""The schema's machinery: loading, the dialect, validation and wording, on test-only forms where content matters."""
