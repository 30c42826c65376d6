"""The HTTP API and the command line: routes, sessions, errors and hostile input."""
