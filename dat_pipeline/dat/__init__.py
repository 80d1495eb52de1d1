"""DAT, the staged aggregation workflow: stage graph, ids, path safety and one module per stage.

No Dagster import here: the Dagster layer in `dat_pipeline.defs.dat` is a thin shell over it.
"""
