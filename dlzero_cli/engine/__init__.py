"""The NumPy engine: layers, losses, optimizers, initialisers and networks.

Only numpy and the standard library are imported here (a test enforces it): no I/O,
no printing, no CLI or plotting code.
"""
