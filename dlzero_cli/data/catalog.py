"""Every dataset dlzero knows, registered in DATASETS by importing their modules.

Code that looks datasets up by name imports DATASETS from here, so the registry is
always complete: the embedded sets and the downloadable ones.
"""

from dlzero_cli.data import embedded, remote  # noqa: F401  (each module registers its datasets)
from dlzero_cli.data.datasets import DATASETS, Dataset

__all__ = ["DATASETS", "Dataset"]
