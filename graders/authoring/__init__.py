"""The instructor's tools on solutions/: generating stubs and notebooks, calibrating thresholds."""
