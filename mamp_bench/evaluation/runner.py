"""``mamp-bench run``: from a method, a protocol and a dataset to a result record.

A pretraining is a job that protocols share: the same method, dataset and configuration are
pretrained once (found again by the hash of their configuration) and reused; ``--checkpoint``
skips it. The protocol then runs in its own folder and writes one record, into the folder and
into the results store.
"""

from __future__ import annotations

import datetime as _dt
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from mamp_bench import __version__
from mamp_bench.config import apply_overrides, config_hash, flatten, from_dict, to_dict
from mamp_bench.data.specs import SYNTHETIC_NAME, DatasetSpec, default_dataset, get_dataset
from mamp_bench.engine.distributed import init_runtime
from mamp_bench.engine.runs import RunDir, echo, environment
from mamp_bench.errors import UserError
from mamp_bench.evaluation.protocol import ProtocolContext
from mamp_bench.fileio import sha256_file, write_json
from mamp_bench.models.transformer import EncoderConfig, SkeletonEncoder
from mamp_bench.presets import METHOD, check_scale
from mamp_bench.registry import METHODS, PROTOCOLS
from mamp_bench.results.store import ResultsStore
from mamp_bench.settings import runs_dir


@dataclass
class RunRequest:
    method: str = "mamp"
    protocol: str = "linear"
    dataset: str | None = None
    source: str | None = None  # transfer: the pretraining dataset
    checkpoint: str | None = None
    scale: str = "smoke"
    seed: int = 0
    pretrain_seed: int | None = None  # default: the same as seed
    device: str = "auto"
    sets: dict[str, str] = field(default_factory=dict)
    data_root: str | None = None
    runs_dir: str | None = None
    results_dir: str | None = None
    resume: bool = False
    force: bool = False
    quiet: bool = False


def split_sets(sets: dict[str, str]) -> tuple[dict[str, str], dict[str, str], dict[str, str]]:
    """(protocol, pretraining, method) overrides from ``--set`` keys (``pretrain.``/``method.`` prefixes)."""
    protocol, pretrain, method = {}, {}, {}
    for key, value in sets.items():
        if key.startswith("pretrain."):
            pretrain[key[len("pretrain.") :]] = value
        elif key.startswith("method."):
            method[key[len("method.") :]] = value
        else:
            protocol[key] = value
    return protocol, pretrain, method


def _synthetic_if(name: str, synthetic: bool) -> str:
    return SYNTHETIC_NAME.get(name, name) if synthetic else name


def resolve_datasets(request: RunRequest, protocol_cls) -> tuple[DatasetSpec, DatasetSpec]:
    """(evaluated dataset, pretraining dataset)."""
    default_source = getattr(protocol_cls, "default_source", None)
    default_target = getattr(protocol_cls, "default_target", None)
    if default_target:  # transfer: the target is fixed by the protocol, the source is chosen
        if request.source:
            source = get_dataset(request.source)
        else:
            synthetic = get_dataset(default_dataset(request.data_root)).synthetic
            source = get_dataset(_synthetic_if(default_source, synthetic))
        target = get_dataset(request.dataset or _synthetic_if(default_target, source.synthetic))
        return target, source
    target = get_dataset(request.dataset or default_dataset(request.data_root))
    if request.source:
        raise UserError(f"--source is for the transfer protocol, not {request.protocol!r}")
    return target, target


def encoder_config_for(
    method: str, family: str, scale: str, overrides: dict[str, str], pretrain_overrides: dict[str, str]
) -> EncoderConfig:
    """The encoder a method would pretrain at this scale (for scratch and random-init runs),
    including the scale's input window (``pretrain.window``)."""
    from mamp_bench.cli.cmd_pretrain import _applicable_method_overrides
    from mamp_bench.engine.pretrain import PretrainConfig
    from mamp_bench.presets import PRETRAIN

    cls = METHODS.get(method)
    config = apply_overrides(
        cls.default_config(family), {**_applicable_method_overrides(method, METHOD[scale]), **overrides}
    )
    window = apply_overrides(PretrainConfig(), {**PRETRAIN[scale], **pretrain_overrides}).window
    return apply_overrides(config.encoder, {"frames": window})


@dataclass
class RunPlan:
    """What a run will do, worked out without doing it (the reproduce matrix uses it to skip)."""

    request: RunRequest
    scale: str
    protocol_cls: Any
    target: DatasetSpec
    source: DatasetSpec
    config: Any  # the protocol's hyperparameters
    pretrain_config: Any | None  # PretrainConfig when the method is pretrained first
    encoder_info: dict[str, Any]
    digest: str
    settings: dict[str, Any]
    run: RunDir


def plan_run(request: RunRequest) -> RunPlan:
    scale = check_scale(request.scale)
    protocol_cls = PROTOCOLS.get(request.protocol)
    method_cls = METHODS.get(request.method)
    target, source = resolve_datasets(request, protocol_cls)
    proto_sets, pretrain_sets, method_sets = split_sets(request.sets)
    config = protocol_cls.config(target.family, scale, proto_sets)
    pretrain_seed = request.seed if request.pretrain_seed is None else request.pretrain_seed
    pretrain_config = None
    if request.checkpoint:
        checkpoint = Path(request.checkpoint)
        if not checkpoint.is_file():
            raise UserError(f"checkpoint {checkpoint} does not exist")
        if pretrain_sets or method_sets:
            ignored = ", ".join(sorted([f"pretrain.{k}" for k in pretrain_sets] + [f"method.{k}" for k in method_sets]))
            raise UserError(f"--set {ignored}: these configure a pretraining, which --checkpoint replaces")
        encoder_info = {
            "kind": "checkpoint",
            "checkpoint": str(checkpoint),
            "checkpoint_sha256": sha256_file(checkpoint),
        }
    elif protocol_cls.uses_pretraining and method_cls.pretrainable:
        from mamp_bench.cli.cmd_pretrain import build_config
        from mamp_bench.engine.pretrain import job_spec

        method_keys = {f"method.{k}": v for k, v in method_sets.items()}
        pretrain_config = build_config(
            request.method, source.name, scale, pretrain_seed, {**pretrain_sets, **method_keys}
        )
        spec = job_spec(pretrain_config)
        encoder_info = {
            "kind": "pretrained",
            "pretrain_dataset": source.name,
            "pretrain_seed": pretrain_seed,
            "pretrain_hash": config_hash(spec),
            "pretrain_config": spec,
        }
    else:
        enc_config = encoder_config_for(request.method, source.family, scale, method_sets, pretrain_sets)
        encoder_info = {"kind": "random-init", "encoder_config": to_dict(enc_config), "init_seed": pretrain_seed}
    spec = {
        "protocol": request.protocol,
        "method": request.method,
        "dataset": target.name,
        "scale": scale,
        "protocol_config": to_dict(config),
        "encoder": {k: v for k, v in encoder_info.items() if k != "checkpoint"},
    }
    digest = config_hash(spec)
    folder = runs_dir(request.runs_dir) / request.protocol / f"{request.method}-{target.name}-{digest}-s{request.seed}"
    return RunPlan(
        request, scale, protocol_cls, target, source, config, pretrain_config, encoder_info, digest,
        _settings(request, config, encoder_info), RunDir(folder),
    )  # fmt: skip


def existing_record(plan: RunPlan) -> dict[str, Any] | None:
    r = plan.request
    return ResultsStore(r.results_dir).find(r.protocol, plan.target.name, r.method, plan.digest, r.seed)


def run(request: RunRequest) -> dict[str, Any]:
    """Pretrain if needed, run the protocol, write the record; return it."""
    started = time.time()
    plan = plan_run(request)
    runtime = init_runtime(request.device)
    show = runtime.is_main and not request.quiet
    store = ResultsStore(request.results_dir)
    existing = existing_record(plan)
    if existing is not None and not request.force:
        echo(f"already done: {store.path_for(existing)} (use --force to run again)", show)
        return existing
    encoder_info = dict(plan.encoder_info)
    make_encoder = _encoder_factory(plan, encoder_info)
    run = plan.run
    last = run.path / "checkpoint-last.pth"
    if last.exists() and not (request.resume or request.force):
        raise UserError(f"an unfinished {request.protocol} run exists in {run.path}; pass --resume to continue it")
    if request.force and not request.resume and runtime.is_main:
        for old in ("checkpoint-last.pth", "log.jsonl", "summary.json", "record.json"):
            (run.path / old).unlink(missing_ok=True)
    if runtime.is_main:
        run.write_config({"config_hash": plan.digest, "seed": request.seed, "settings": plan.settings,
                          "environment": environment(runtime)})  # fmt: skip
    target = plan.target
    echo(f"{request.protocol} of {request.method} on {target.name} (seed {request.seed}) -> {run.path}", show)
    ctx = ProtocolContext(
        dataset=target,
        data_root=request.data_root,
        make_encoder=make_encoder,
        runtime=runtime,
        run=run,
        seed=request.seed,
        resume=request.resume,
        show=show,
    )
    metrics = plan.protocol_cls().run(ctx, plan.config)
    record = {
        "method": request.method,
        "protocol": request.protocol,
        "dataset": target.name,
        "family": target.family,
        "split": target.split,
        "synthetic": target.synthetic,
        "source_dataset": plan.source.name if plan.source.name != target.name else None,
        "seed": request.seed,
        "scale": plan.scale,
        "config_hash": plan.digest,
        "setting_hash": config_hash(plan.settings),
        "settings": plan.settings,
        "overrides": {k: str(v) for k, v in sorted(request.sets.items())},
        "row_hash": row_hash(request, encoder_info),
        "protocol_config": to_dict(plan.config),
        "encoder": encoder_info,
        "metrics": metrics,
        "extras": ctx.extras,
        "environment": environment(runtime),
        "suite_version": __version__,
        "wall_seconds": round(time.time() - started, 2),
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "run_dir": str(run.path),
    }
    if runtime.is_main:
        write_json(run.path / "record.json", record)
        path = store.write(record)
        run.write_summary({"finished": True, "record": str(path)})
        if not request.quiet:
            print_record(record)
    runtime.barrier()
    return record


def _encoder_factory(plan: RunPlan, encoder_info: dict[str, Any]):
    """Pretrain when the plan says so (or reuse the pretraining); a function giving fresh encoders."""
    from mamp_bench.api import load_encoder

    request = plan.request
    if encoder_info["kind"] == "checkpoint":
        checkpoint = Path(encoder_info["checkpoint"])
        load_encoder(checkpoint)  # fail now, with the message, if it is not usable
        return lambda: load_encoder(checkpoint)
    if encoder_info["kind"] == "pretrained":
        from mamp_bench.engine.pretrain import finished_checkpoint, pretrain

        run_path = pretrain(plan.pretrain_config, data_root=request.data_root, runs_root=request.runs_dir, resume=True,
                            device=request.device, quiet=request.quiet)  # fmt: skip
        checkpoint, digest = finished_checkpoint(run_path)
        encoder_info.update(pretrain_run=str(run_path), checkpoint=str(checkpoint), checkpoint_sha256=digest)
        return lambda: load_encoder(checkpoint)
    enc_config = from_dict(EncoderConfig, encoder_info["encoder_config"])
    seed = encoder_info["init_seed"]

    def fresh() -> SkeletonEncoder:
        torch.manual_seed(seed)
        return SkeletonEncoder(enc_config)

    return fresh


#: ``--set`` keys that pick a table column rather than a row (the labelled fraction of semi)
COLUMN_KEYS = ("fraction",)


def row_hash(request: RunRequest, encoder_info: dict[str, Any]) -> str:
    """What makes a row of a results table: the method, protocol and scale, the user's overrides
    (not the per-dataset presets, which differ between columns), and the checkpoint if one was given."""
    overrides = {k: str(v) for k, v in request.sets.items() if k not in COLUMN_KEYS}
    row = {"method": request.method, "protocol": request.protocol, "scale": request.scale, "overrides": overrides}
    if encoder_info.get("kind") == "checkpoint":
        row["checkpoint_sha256"] = encoder_info["checkpoint_sha256"]
    return config_hash(row)


def _settings(request: RunRequest, config, encoder_info: dict[str, Any]) -> dict[str, Any]:
    """What defines a row of a table: everything but the seeds (flat ``key: value`` pairs)."""
    flat: dict[str, Any] = {f"protocol.{k}": v for k, v in to_dict(config).items()}
    pretrain = encoder_info.get("pretrain_config")
    if pretrain:
        flat.update({f"pretrain.{k}": v for k, v in pretrain["pretrain"].items() if k != "seed"})
        flat.update(flatten(pretrain["method_config"], "method."))
    if encoder_info.get("kind") == "checkpoint":
        flat["checkpoint_sha256"] = encoder_info["checkpoint_sha256"]
    if encoder_info.get("kind") == "random-init":
        flat.update(flatten(encoder_info["encoder_config"], "method.encoder."))
    flat.update({"protocol": request.protocol, "method": request.method, "scale": request.scale})
    return flat


def print_record(record: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    m = record["metrics"]
    title = (
        f"{record['protocol']} | {record['method']} | {record['dataset']} | seed {record['seed']} | {record['scale']}"
    )
    table = Table(title=title)
    for column in ("metric", "value"):
        table.add_column(column)
    for key in ("top1_final", "top1_best", "best_epoch", "top5_final", "top5_at_best", "top1", "top5"):
        if key in m and m[key] is not None:
            value = m[key]
            table.add_row(key, f"{value:.2f}" if isinstance(value, float) else str(value))
    table.add_row("wall time", f"{record['wall_seconds']:.0f} s")
    Console().print(table)
