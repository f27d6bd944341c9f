"""``mamp-bench prepare``: raw NTU RGB+D / PKU-MMD files -> the reference ``.npz`` files."""

from __future__ import annotations

import argparse
from pathlib import Path

from mamp_bench.data.preparation import default_workers
from mamp_bench.data.specs import families
from mamp_bench.errors import UserError


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "prepare",
        help="prepare a real dataset from its raw files",
        description=(
            "Read raw skeleton files and write the reference .npz files (NTU60_XSub.npz, NTU60_XView.npz, "
            "NTU120_XSub.npz, NTU120_XSet.npz, PKUv1_XSub.npz, ...) plus a manifest JSON with sample counts, "
            "skipped files with their reasons and checksums. With --chain gcn: the ST-GCN family's 50-frame "
            "clips instead (NTU60_XSub_frame50.npz, ...)."
        ),
    )
    parser.add_argument("dataset", choices=families())
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--raw", help="raw folder (NTU: the .skeleton tree; PKU: skeleton/, label/ and split files)")
    source.add_argument("--pyskl", help="NTU only: read pyskl's ntu60_3danno.pkl / ntu120_3danno.pkl instead")
    parser.add_argument("--out", required=True, help="output folder for the .npz files and the manifest")
    parser.add_argument(
        "--workers", type=int, default=default_workers(), help="parallel processes (default: all cores)"
    )
    parser.add_argument("--missing-list", help="NTU: official missing-skeleton list; its samples are skipped")
    parser.add_argument(
        "--single-actor",
        choices=("zeros", "duplicate"),
        help="NTU: fill the second person of one-actor clips with zeros (NTU-60 default) or a copy (NTU-120 default)",
    )
    parser.add_argument(
        "--slice",
        choices=("reference", "inclusive"),
        default="reference",
        help="PKU: clip frames [start+1, end] as MAMP does (reference) or [start, end] (inclusive), 1-based",
    )
    parser.add_argument(
        "--chain",
        choices=("sgn", "gcn"),
        default="sgn",
        help="sgn: SGN's chain as MAMP and CTR-GCN run it, 300-frame .npz files (default); gcn: the ST-GCN "
        "contrastive family's 50-frame clips "
        "(SkeletonCLR, CrosSCLR, AimCLR: per-frame centring and rotation, resize to 50 frames; ntu60, ntu120, pku1)",
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from rich.console import Console

    from mamp_bench.fileio import ensure_writable, refuse_overwriting_inputs

    if args.workers < 1:
        raise UserError("--workers must be at least 1")
    refuse_overwriting_inputs(
        {f"the output {name}": Path(args.out) / name for name in _outputs(args.dataset, args.chain)},
        {"--missing-list": args.missing_list, "--pyskl": args.pyskl, "--raw": args.raw},
    )
    ensure_writable(args.out, "output folder")  # before reading any file, not after
    if args.chain == "gcn":
        if args.pyskl:
            raise UserError("--pyskl is for the sgn chain; the gcn chain reads the raw files (--raw)")
        from mamp_bench.data.gcn.prepare import prepare_gcn

        manifest = prepare_gcn(args.dataset, args.raw, args.out, args.workers, args.missing_list, args.quiet)
    elif args.dataset.startswith("ntu"):
        if args.pyskl:
            from mamp_bench.data.pyskl import prepare_from_pyskl

            manifest = prepare_from_pyskl(args.dataset, args.pyskl, args.out, args.single_actor)
        else:
            from mamp_bench.data.ntu.prepare import prepare_ntu

            manifest = prepare_ntu(
                args.dataset, args.raw, args.out, args.workers, args.missing_list, args.single_actor, args.quiet
            )
    else:
        if args.pyskl:
            raise UserError("--pyskl is for NTU only")
        from mamp_bench.data.pku.prepare import prepare_pku

        manifest = prepare_pku(args.dataset, args.raw, args.out, args.workers, args.slice, args.quiet)
    console = Console()
    for split in manifest.splits.values():
        console.print(f"{split['file']}: {split['train']} train / {split['test']} test clips")
    for line in manifest.empty_sides():
        console.print(f"[yellow]warning:[/yellow] {line}", soft_wrap=True)
    console.print(
        f"{manifest.samples} samples from {manifest.files_found} files in {manifest.seconds:.1f} s; "
        f"{len(manifest.skipped)} skipped (reasons in the manifest)"
    )
    if args.verbose:
        for skipped in manifest.skipped:
            console.print(f"  skipped {skipped.item}: {skipped.reason}")
    return 0


def _outputs(family: str, chain: str) -> list[str]:
    """The files ``prepare`` writes for a family with a data chain: its real splits' ``.npz`` files and its
    manifest."""
    from mamp_bench.data.specs import DATASETS

    specs = [spec for _, spec in DATASETS.items()
             if spec.family == family and not spec.synthetic and spec.chain == chain]  # fmt: skip
    return sorted({spec.filename for spec in specs} | {spec.manifest_name for spec in specs})
