"""Data files shipped with the package (no code): ``mnist_5k.npz``, the MNIST subset that
:func:`ann.load_mnist_subset` reads, and ``README.md`` with its source and licences.

A package (not a plain folder) so that setuptools' package discovery lists it with its data files.
"""
