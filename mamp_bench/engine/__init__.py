"""Training machinery shared by pretraining and the protocols: one code path for CPU, one GPU
and many GPUs (``torchrun``)."""
