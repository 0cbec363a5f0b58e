"""One submission through the instructor's tests: the session, the pytest plugin, task calls, the reference."""
