"""Helpers the instructor's tests share per topic family, so public and hidden tests make identical calls."""
