"""The run folder, the one home of everything a run keeps on disk.

folder.py     RunFolder: create, find (`latest`), list, and read/write every file
formats.py    inside the .npz files and metrics.csv
documents.py  summary.json (with the run folder's format) and eval reports, typed
lifecycle.py  train, resume, import: a run from start to finish
reports.py    evaluate a run, predict with it
"""
