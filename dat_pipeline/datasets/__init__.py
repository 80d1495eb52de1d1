"""Datasets: how parsed tables become the tables of a DataSet, and the one catalog of every
dataset the product writes (SPEC 1.4 export, SPEC 10)."""
