"""The NumPy engine: layers, losses, optimizers, initialisers and networks.

Only numpy and the standard library are imported here (a test enforces it): no I/O,
no printing, no CLI or plotting code.
"""

# Every layer kind registers itself in LAYERS when its module is imported; importing them
# here makes the registry complete whichever engine module a caller imports first.
from dlzero_cli.engine import activations, conv, fused, layers  # noqa: E402, F401
