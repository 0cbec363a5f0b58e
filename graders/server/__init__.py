"""The warm local grading server: the client the CLI asks, and the server process."""
