"""Experiments: scenario x impairment matrices in parallel labs, resumable, summarised
with tables, plots and an index of every run (docs/experiments.md).

Kept empty of imports: every cell's child process imports this package, and the summary's
plotting library alone would cost each of them half a second.
"""
