"""The Lambda zip and the dependency locks."""
