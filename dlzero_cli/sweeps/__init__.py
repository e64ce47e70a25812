"""Hyperparameter sweeps: many runs of one base config, each a trial with its own values.

    spec.py       the sweep file: schema, checks with file:line errors, the trials
    distributions.py  grid axes and the random distributions (a registry)
    trial.py      one trial, trained where it is sent (the function Dask ships)
    execution.py  the sweep from start to finish: serially or on an executor, resume,
                  Ctrl-C
    cluster.py    the Dask executors: a LocalCluster, or an existing scheduler
    results.py    the sweep folder (SweepFolder) and its files: sweep.csv, sweep.json

Only cluster.py imports dask, and only `dlzero sweep` imports cluster.py, when a sweep
runs on Dask: nothing else pays for it.
"""
