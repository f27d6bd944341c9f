"""Synthetic skeleton data written in the exact raw formats of NTU RGB+D and PKU-MMD."""
