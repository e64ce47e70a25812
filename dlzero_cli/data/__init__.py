"""Datasets: the registry, the embedded sets, splits, normalisation and batching."""
