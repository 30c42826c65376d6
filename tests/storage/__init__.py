"""The storage contract on both stores, and the embedded store's own promises."""
