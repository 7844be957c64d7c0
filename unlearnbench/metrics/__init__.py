"""Built-in metrics: one plugin module per metric, named after its file stem.

Pure numpy helpers shared by several metrics live in :mod:`unlearnbench.metrics._functional`.
"""
