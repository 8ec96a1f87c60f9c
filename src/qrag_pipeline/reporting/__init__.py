"""The report of a run, Kedro-free: plots, the headline table against the published
figures, and the document (Markdown and one self-contained HTML page).

Each module reads the metrics table written by the evaluate pipeline and the training
curves written by train_q as plain DataFrames, so the report can be rebuilt in a
notebook from any saved version of them.
"""
