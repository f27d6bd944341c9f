"""``mamp-bench synth``: write synthetic raw files in the exact NTU RGB+D / PKU-MMD formats."""

from __future__ import annotations

import argparse
from pathlib import Path

from mamp_bench.data.preparation import default_workers
from mamp_bench.data.specs import families
from mamp_bench.errors import UserError


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "synth",
        help="write synthetic raw dataset files (real formats, learnable class-dependent motion)",
        description=(
            "Write a synthetic raw tree that `mamp-bench prepare` reads like the real one: NTU .skeleton files "
            "with valid names, or PKU-MMD videos with label and split files."
        ),
    )
    parser.add_argument("dataset", choices=families())
    parser.add_argument("--out", required=True, help="folder to write the raw files into")
    parser.add_argument("--clips-per-class", type=int, default=4, help="NTU: clips per action class (1-1000)")
    parser.add_argument(
        "--performances", type=int, default=6, help="PKU: performances, 3 views each (Phase I 1-400, II 1-338)"
    )
    parser.add_argument("--actions-per-video", type=int, default=8, help="PKU: actions in each video (1-60)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--crlf", action="store_true", help="NTU: CRLF line endings")
    parser.add_argument("--edge-cases", action="store_true", help="include the hard cases of the real data")
    parser.add_argument("--workers", type=int, default=default_workers())
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    out = Path(args.out)
    if out.exists() and any(out.iterdir()):
        raise UserError(f"{out} is not empty; choose a new folder")
    if args.workers < 1:
        raise UserError("--workers must be at least 1")
    # the counts are checked against their bounds by the writers, before anything is written
    if args.dataset.startswith("ntu"):
        from mamp_bench.data.synthetic.ntu_tree import write_ntu_tree

        written = write_ntu_tree(out, args.dataset, args.clips_per_class, args.seed, args.crlf, args.edge_cases,
                                 workers=args.workers, quiet=False)  # fmt: skip
        print(f"wrote {len(written)} .skeleton files under {out}")
    else:
        from mamp_bench.data.synthetic.pku_tree import write_pku_tree

        written = write_pku_tree(out, int(args.dataset[-1]), args.performances, args.actions_per_video, args.seed,
                                 args.edge_cases, quiet=False)  # fmt: skip
        print(f"wrote {len(written)} videos with labels and split files under {out}")
    return 0
