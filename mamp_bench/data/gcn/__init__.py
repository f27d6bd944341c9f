"""The data of the ST-GCN contrastive family (SkeletonCLR, CrosSCLR, AimCLR): the two-stage chain from raw
files to 50-frame clips (``chain``, ``prepare``), the augmentations of their feeders (``augment``) and the
joint / motion / bone streams (``streams``)."""
