"""``mamp-bench export-checkpoint``: a checkpoint into the zoo, named by its content, with a metafile."""

from __future__ import annotations

import argparse

from mamp_bench.cli.cmd_zoo import add_locations


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "export-checkpoint",
        help="copy a checkpoint into the zoo, named by its sha256, with a metafile (method, config, results)",
        description=(
            "Copy a pretraining's final checkpoint (give its run folder) or any suite or official checkpoint "
            "file into the zoo folder as <method>_<epochs>e_<dataset>-<sha256[:8]>.pth, checked against the "
            "sha256 its run recorded, and write <same name>.json beside it: method, encoder, configuration, "
            "dataset, epochs, sha256 and the records of the results store that evaluated it (as MMAction2's "
            "metafiles do). Exporting it again refreshes the metafile. `mamp-bench zoo` lists the exports."
        ),
    )
    parser.add_argument("source", help="a pretraining run folder (runs/pretrain/...) or a checkpoint file")
    parser.add_argument("--dataset", help="the dataset it was pretrained on, for checkpoints that do not say")
    parser.add_argument("--method", help="the method that trained it, for checkpoints that do not say (AimCLR's)")
    add_locations(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from mamp_bench.results.zoo import export_checkpoint, zoo_dir

    meta = export_checkpoint(Path(args.source), zoo_dir(args.zoo_dir, args.runs_dir), args.results_dir, args.dataset,
                             args.method)  # fmt: skip
    print(f"{meta.with_suffix('.pth')}\n{meta}")
    return 0
