"""CPU step time of the GCN family's pretraining: the suite's SkeletonCLR and AimCLR against the reference's, in one
run, on the same clips and batch.

    python -m benchmarks.gcn_step --aimclr /work/ref/aimclr --crossclr /work/ref/crossclr [--batch 64] [--repeats 5]

For each method, two parts, timed alternately (suite, reference, suite, ...) so both see the same machine load:

* ``augment``: the views of one batch. Suite: ``method.views`` (batched, on the training device, float64, from
  per-clip seeds). Reference: its feeder's ``__getitem__`` for every clip (NumPy, one clip at a time: what its
  DataLoader workers do beside the training loop);
* ``step``: one optimizer step. Suite: ``method(x, seeds)`` (which includes its augmentation), backward, SGD
  (lr 0.1, momentum 0.9, weight decay 1e-4), ``after_step``. Reference: its processor's ``train(epoch)`` on the
  augmented batch (forward, loss, backward, the same SGD), from AimCLR's ``AimCLR_Processor`` and CrosSCLR's
  ``SkeletonCLR_Processor``; AimCLR at epoch 1 (before mining).

Both sides start from the same official-layout weights (``tests/reference/gcn/cases.py``); the queue has 32,768
keys. Medians and [min-max] over ``--repeats`` after one warm-up; the machine is named in the output.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

import mamp_bench  # noqa: F401  before torch: the suite's process defaults (engine/threads.py)
from benchmarks.common import machine, spread


def _timed_alternately(fns: dict[str, object], repeats: int) -> dict[str, tuple[float, float, float]]:
    import statistics
    import time

    times: dict[str, list[float]] = {name: [] for name in fns}
    for fn in fns.values():  # warm-up
        fn()
    for _ in range(repeats):
        for name, fn in fns.items():
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    return {name: (statistics.median(t), min(t), max(t)) for name, t in times.items()}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--aimclr", type=Path, required=True, help="a checkout of Levigty/AimCLR")
    parser.add_argument("--crossclr", type=Path, required=True, help="a checkout of LinguoLi/CrosSCLR")
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args(argv)

    import numpy as np
    import torch

    load_at_start = os.getloadavg()[0]

    from mamp_bench.baselines.aimclr import AimCLR, AimCLRConfig
    from mamp_bench.baselines.skeletonclr_gcn import GCNContrastiveConfig, SkeletonCLR
    from tests.reference.gcn import cases
    from tests.reference.gcn.make_expected import (
        MODEL_ARGS,
        PATCHES,
        load_patched,
        make_processor,
        stub_unused_imports,
    )

    stub_unused_imports()
    sys.path[:0] = [str(args.aimclr), str(args.aimclr / "torchlight")]
    load_patched("net.aimclr", args.aimclr / "net/aimclr.py", PATCHES["net/aimclr.py"])
    load_patched("net.skeletonclr", args.aimclr / "net/skeletonclr.py", PATCHES["net/skeletonclr.py"])
    import feeder.tools  # noqa: F401  (the feeders' augmentations)
    import processor.pretrain  # noqa: F401  (the package CrosSCLR's SkeletonCLR processor is loaded into)
    from feeder.ntu_feeder import Feeder_triple
    from net.aimclr import AimCLR as ReferenceAimCLR
    from net.skeletonclr import SkeletonCLR as ReferenceSkeletonCLR
    from processor.pretrain_aimclr import AimCLR_Processor

    # CrosSCLR's SkeletonCLR processor (AimCLR's processors cannot run SkeletonCLR), on AimCLR's identical
    # Processor / PT_Processor classes and its SkeletonCLR model (the same as CrosSCLR's without cross mode)
    crossclr_processor = load_patched(
        "processor.pretrain_skeletonclr", args.crossclr / "processor/pretrain_skeletonclr.py", []
    )

    clips = np.concatenate([cases.clips(cases.BATCH, seed) for seed in range(-(-args.batch // cases.BATCH))])
    clips = clips[: args.batch]
    x = torch.from_numpy(clips)
    seeds = torch.arange(args.batch)

    with tempfile.TemporaryDirectory() as tmp:
        np.save(Path(tmp) / "position.npy", clips)
        import pickle

        with open(Path(tmp) / "label.pkl", "wb") as handle:
            pickle.dump(([str(i) for i in range(args.batch)], [0] * args.batch), handle)
        feeder = Feeder_triple(str(Path(tmp) / "position.npy"), str(Path(tmp) / "label.pkl"), mmap=False)

        def reference_views():
            return [feeder[i][0] for i in range(args.batch)]

        views = reference_views()

    def batch_of(count: int):
        return ([torch.from_numpy(np.stack([v[i] for v in views])) for i in range(count)], torch.zeros(args.batch))

    def optimizer(module):
        return torch.optim.SGD(module.parameters(), lr=0.1, momentum=0.9, nesterov=False, weight_decay=1e-4)

    rows = []
    for name, suite_cls, config, reference_cls, processor_cls, views_used, extra in (
        ("skeletonclr", SkeletonCLR, GCNContrastiveConfig(queue_size=cases.QUEUE), ReferenceSkeletonCLR,
         crossclr_processor.SkeletonCLR_Processor, 2, {"view": "joint"}),
        ("aimclr", AimCLR, AimCLRConfig(queue_size=cases.QUEUE), ReferenceAimCLR, AimCLR_Processor, 3,
         {"stream": "joint", "mining_epoch": 150, "topk": 1}),
    ):  # fmt: skip
        reference = reference_cls(**MODEL_ARGS)
        layout = [[k, list(v.shape)] for k, v in reference.state_dict().items()]
        state = cases.official_state(layout, 0, reference.encoder_q.A.numpy())
        reference.load_state_dict(state)
        suite = suite_cls(config)
        suite.load_official(state)
        suite_optimizer = optimizer(suite)
        if name == "skeletonclr":  # CrosSCLR's processor passes the two views; its feeder draws them the same way
            batch = ([batch_of(3)[0][1], batch_of(3)[0][2]], torch.zeros(args.batch))
        else:
            batch = batch_of(views_used)
        proc = make_processor(processor_cls, reference, optimizer(reference), batch, extra, epoch=1)

        def suite_step(suite=suite, suite_optimizer=suite_optimizer):
            suite_optimizer.zero_grad(set_to_none=True)
            suite(x, seeds).loss.backward()
            suite_optimizer.step()
            suite.after_step(0.0)

        def suite_augment(suite=suite):
            with torch.no_grad():
                suite.views(x, seeds, None)

        results = _timed_alternately({"suite step": suite_step, "reference step": lambda proc=proc: proc.train(1),
                                      "suite augment": suite_augment, "reference augment": reference_views},
                                     args.repeats)  # fmt: skip
        for key, value in results.items():
            rows.append((name, key, value))

    print(f"machine: {machine()}; load average at the end {os.getloadavg()[0]:.1f} (start {load_at_start:.1f})")
    print(f"batch {args.batch}, queue {cases.QUEUE}, {args.repeats} repeats after 1 warm-up; seconds, median [min-max]")
    print("| method | part | suite | reference | suite / reference |")
    print("| --- | --- | --- | --- | --- |")
    for name in ("skeletonclr", "aimclr"):
        found = {key: value for method, key, value in rows if method == name}
        for part in ("step", "augment"):
            suite, reference = found[f"suite {part}"], found[f"reference {part}"]
            print(f"| {name} | {part} | {spread(*suite)} | {spread(*reference)} | {suite[0] / reference[0]:.2f} |")


if __name__ == "__main__":
    main()
