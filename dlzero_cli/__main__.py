"""`python -m dlzero_cli` runs the same CLI as the `dlzero` console script."""

from dlzero_cli.cli import main

main()
