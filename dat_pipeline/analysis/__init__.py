"""The analysis pipeline (SPEC 4): thirteen deterministic phases over the tables of a source.

No Dagster import here; `dat_pipeline.defs.analysis` makes one asset per phase.
"""
