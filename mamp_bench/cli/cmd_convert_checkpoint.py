"""``mamp-bench convert-checkpoint``: an official MAMP checkpoint -> a suite checkpoint."""

from __future__ import annotations

import argparse


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "convert-checkpoint",
        help="convert an official MAMP checkpoint (checkpoint-399.pth) to the suite's format",
        description=(
            "Read an official MAMP checkpoint safely (weights only; argparse.Namespace args allowed), map its "
            "parameter names onto the suite's modules, infer its configuration from shapes and args, and write a "
            "suite checkpoint. Every --checkpoint option also accepts official checkpoints directly."
        ),
    )
    parser.add_argument("input", help="official (or suite) checkpoint")
    parser.add_argument("output", help="suite checkpoint to write")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from mamp_bench.checkpoints import checkpoint_format, load_checkpoint, save_checkpoint
    from mamp_bench.fileio import refuse_overwriting_inputs
    from mamp_bench.methods.checkpoints import convert_official

    refuse_overwriting_inputs({"the output": args.output}, {"the input": args.input})
    checkpoint = load_checkpoint(args.input)
    if checkpoint_format(checkpoint) == "suite":
        payload = {k: v for k, v in checkpoint.items() if k not in ("format", "format_version")}
        note = "already a suite checkpoint; copied"
    else:
        payload = convert_official(checkpoint)
        note = f"{payload['kind']} checkpoint of {payload['method']}, {len(payload['model'])} tensors"
    save_checkpoint(args.output, payload)
    print(f"{args.output}: {note}")
    return 0
