"""The shipped form's content: what schema/ as shipped says, and the operator edits made to it."""
