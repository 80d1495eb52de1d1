"""Benchmarks (SPEC 6): `python -m bench [overhead|dat]`; figures are printed, never asserted."""
