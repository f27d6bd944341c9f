"""``mamp-bench convert-checkpoint``: an official checkpoint (MAMP's, AimCLR's / SkeletonCLR's) -> a suite
checkpoint."""

from __future__ import annotations

import argparse


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "convert-checkpoint",
        help="convert an official MAMP (checkpoint-399.pth) or AimCLR/SkeletonCLR (epoch300_model.pt) checkpoint",
        description=(
            "Read an official checkpoint safely (weights only; argparse.Namespace args allowed), map its parameter "
            "names onto the suite's modules, infer its configuration from shapes and args, and write a suite "
            "checkpoint that names its method and encoder. An AimCLR/SkeletonCLR checkpoint (the processors' flat "
            "state dict: encoder_q.*, encoder_k.*, queue) needs --method (both save the same layout) and, for the "
            "motion or bone stream, --set encoder.stream=motion (the file does not record its stream). Every "
            "--checkpoint option also accepts official checkpoints directly (an AimCLR/SkeletonCLR one as the "
            "joint stream)."
        ),
    )
    parser.add_argument("input", help="official (or suite) checkpoint")
    parser.add_argument("output", help="suite checkpoint to write")
    parser.add_argument("--method", help="the method that trained it (required for AimCLR/SkeletonCLR checkpoints)")
    parser.add_argument(
        "--set", action="append", metavar="KEY=VALUE", default=[],
        help="a method setting the checkpoint does not record, e.g. encoder.stream=bone (repeatable)",
    )  # fmt: skip
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from mamp_bench.checkpoints import checkpoint_format, load_checkpoint, save_checkpoint
    from mamp_bench.config import parse_set_args
    from mamp_bench.errors import UserError
    from mamp_bench.fileio import refuse_overwriting_inputs
    from mamp_bench.methods.checkpoints import convert_official

    refuse_overwriting_inputs({"the output": args.output}, {"the input": args.input})
    checkpoint = load_checkpoint(args.input)
    if checkpoint_format(checkpoint) == "suite":
        if args.method or args.set:
            raise UserError("the input is already a suite checkpoint: it names its method and configuration")
        payload = {k: v for k, v in checkpoint.items() if k not in ("format", "format_version")}
        note = "already a suite checkpoint; copied"
    else:
        payload = convert_official(checkpoint, args.method, parse_set_args(args.set))
        encoder = payload["encoder"]
        stream = f", {encoder['config']['stream']} stream" if "stream" in encoder["config"] else ""
        note = (f"{payload['kind']} checkpoint of {payload['method']} ({encoder['name']} encoder{stream}), "
                f"{len(payload['model'])} tensors")  # fmt: skip
    save_checkpoint(args.output, payload)
    print(f"{args.output}: {note}")
    return 0
