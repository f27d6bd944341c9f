"""Pretraining methods: the base class, the masked-method core and MAMP (registered through the
``mamp_bench.methods`` entry point, like the baselines in the top-level ``baselines`` package)."""
