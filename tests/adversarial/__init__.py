"""Hostile submissions: each test grades a topic 1 module that tries one trick, and checks it gained nothing."""
