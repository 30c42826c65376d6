"""The command line's commands, one module per group of them; ``handler.cli`` puts them together."""
