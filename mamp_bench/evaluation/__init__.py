"""Downstream evaluation machinery shared by the protocol plugins: heads, metrics, layer-wise lr
decay, the supervised training loop, k-NN, labelled subsets, and the protocol base class."""
