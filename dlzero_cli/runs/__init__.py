"""The run folder, the one home of everything a run keeps on disk.

folder.py     RunFolder: create, find (`latest`), list, and read/write every file
formats.py    inside the .npz files, metrics.csv and diagnostics.csv
documents.py  summary.json (with the run folder's format), manifest.json, eval reports
lifecycle.py  train, resume, import: a run from start to finish
splits.py     a config's splits of its dataset
planning.py   before a run: the numerical-gradient plan, `check`'s dry run
reports.py    evaluate a run, predict with it
threads.py    blas_threads(n); the versions and BLAS libraries in effect
manifest.py   a run's manifest.json: file hashes, dataset digests per split
listing.py    `runs list` rows from summaries alone, filters, sort; `runs show`
compare.py    runs side by side: differing config keys, metrics, curves
verify.py     recheck a manifest's hashes; rerun a run and compare bit for bit
"""
