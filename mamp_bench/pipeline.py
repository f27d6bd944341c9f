"""The pipeline: the one place that turns a request into a resolved, typed configuration and runs it.

A ``Request`` says what to run (method, protocol, dataset, scale, seed, ``--set`` overrides);
``Options`` say where and how (folders, device, start over), which never changes a number. ``resolve``
parses the overrides once into the typed configurations (the protocol's recipe, the pretraining
schedule, the method's dataclass) and works out the encoder to evaluate: a checkpoint, a
pretraining (a ``PretrainJob``, shared by every protocol that needs it and found again by its
hash) or a fresh initialisation. ``run`` pretrains if that pretraining has not finished,
evaluates, and writes the record. An interrupted pretraining or protocol run continues from its last
epoch when the same request comes again (``restart`` discards it). The command line, the Python API
and ``reproduce`` call it.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as _dt
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from mamp_bench import __version__
from mamp_bench.checkpoints import checkpoint_method, load_checkpoint, load_encoder
from mamp_bench.config import apply_overrides, config_hash, require, to_dict
from mamp_bench.console import echo
from mamp_bench.data.provenance import file_provenance, fingerprint
from mamp_bench.data.specs import DatasetSpec, default_dataset, get_dataset
from mamp_bench.engine.distributed import init_runtime
from mamp_bench.engine.metric_logs import EVENTS_GLOB, MetricLogs
from mamp_bench.engine.pretrain import PretrainConfig, PretrainJob, finished_checkpoint
from mamp_bench.engine.pretrain import pretrain as run_pretraining
from mamp_bench.engine.runs import RunDir, environment
from mamp_bench.errors import UserError
from mamp_bench.evaluation.protocol import ProtocolContext
from mamp_bench.fileio import sha256_file, write_bytes, write_json
from mamp_bench.models.transformer import EncoderConfig, SkeletonEncoder
from mamp_bench.preflight import check_dataset, check_output_locations
from mamp_bench.registry import METHODS, PROTOCOLS
from mamp_bench.results.store import ResultsStore, epoch_log_csv
from mamp_bench.scales import PRETRAIN, check_scale
from mamp_bench.seeding import seed_check
from mamp_bench.settings import runs_dir


@dataclass
class Request:
    """What to run. ``overrides`` are ``--set`` pairs: protocol keys bare (``epochs=5``), pretraining
    keys with ``pretrain.`` and method keys with ``method.`` (``method.mask_ratio=0.8``)."""

    method: str
    protocol: str | None = None  # None: pretraining only
    dataset: str | None = None  # default: ntu60-xsub when prepared, else its synthetic stand-in
    source: str | None = None  # transfer: the pretraining dataset
    checkpoint: str | None = None  # evaluate this instead of pretraining
    scale: str = "smoke"
    seed: int = 0
    pretrain_seed: int | None = None  # default: the same as seed
    overrides: dict[str, str] = field(default_factory=dict)


@dataclass
class Options:
    """Where and how a request runs; nothing here changes a result."""

    data_root: str | None = None
    runs_dir: str | None = None
    results_dir: str | None = None
    device: str = "auto"
    restart: bool = False  # discard an unfinished run (and an unfinished pretraining it needs) instead of continuing it
    force: bool = False  # protocols: run again although a record exists (a finished run folder starts over)
    quiet: bool = False
    output_dir: str | None = None  # pretraining only: its run folder
    wait: bool = False  # wait for another process holding the same run folder instead of stopping
    allow_unverified: bool = False  # use a checkpoint whose sha256 its run never recorded


@dataclass
class Overrides:
    """``--set`` pairs split by what they configure (the prefixes removed), parsed once here."""

    protocol: dict[str, str] = field(default_factory=dict)
    pretrain: dict[str, str] = field(default_factory=dict)
    method: dict[str, str] = field(default_factory=dict)

    @classmethod
    def parse(cls, sets: dict[str, str], bare: str = "protocol") -> Overrides:
        """``bare`` says what un-prefixed keys configure ("protocol" for runs, "pretrain" for pretrainings)."""
        out = cls()
        for key, value in sets.items():
            prefix, _, rest = key.partition(".")
            if prefix in ("pretrain", "method") and rest:
                getattr(out, prefix)[rest] = value
            elif bare == "pretrain" and key == "method":
                raise UserError("'method' is not a setting: choose the method with --method")
            else:
                getattr(out, bare)[key] = value
        return out


@dataclass
class EncoderSource:
    """The encoder a protocol evaluates: a checkpoint, a pretraining, or a fresh initialisation."""

    kind: str  # "checkpoint", "pretrained" or "fresh"
    checkpoint: Path | None = None
    checkpoint_sha256: str | None = None
    checkpoint_method: str | None = None  # the method the checkpoint says trained it (None: it does not say)
    checkpoint_epoch: int = -1  # pretrained: the pretraining epoch evaluated (-1: the final one)
    pretraining: PretrainJob | None = None
    encoder_config: EncoderConfig | None = None
    init_seed: int = 0

    def identity(self) -> dict[str, Any]:
        """What the run's hash covers (the checkpoint by content, not by path)."""
        if self.kind == "checkpoint":
            return {"kind": "checkpoint", "checkpoint_sha256": self.checkpoint_sha256,
                    "checkpoint_method": self.checkpoint_method}  # fmt: skip
        if self.kind == "pretrained":
            job = self.pretraining
            return {"kind": "pretrained", "pretrain_dataset": job.dataset, "pretrain_seed": job.config.seed,
                    "pretrain_hash": job.digest, "pretrain_config": job.spec(),
                    "checkpoint_epoch": self.checkpoint_epoch}  # fmt: skip
        return {"kind": "fresh", "encoder_config": to_dict(self.encoder_config), "init_seed": self.init_seed}


@dataclass
class ResolvedRun:
    """A request with every configuration resolved and validated, before any work."""

    request: Request
    protocol_cls: Any
    config: Any  # the protocol's hyperparameters
    target: DatasetSpec
    source: DatasetSpec
    encoder: EncoderSource
    setting: dict[str, Any]  # the protocol's setting keys and their values
    digest: str
    run: RunDir


def resolve_pretraining(method: str, dataset: str, scale: str, seed: int, overrides: Overrides) -> PretrainJob:
    """The pretraining of ``method`` on ``dataset`` at ``scale``: schedule and method configuration."""
    method_cls = METHODS.get(method)
    if not method_cls.pretrainable:
        raise UserError(f"method {method!r} has nothing to pretrain")
    config = apply_overrides(PretrainConfig(seed=seed), PRETRAIN[check_scale(scale)])
    config = apply_overrides(config, overrides.pretrain)
    config.validate()
    family = get_dataset(dataset).family
    method_config = method_cls.resolve_config(family, scale, overrides.method, window=config.window)
    return PretrainJob(method, dataset, config, method_config)


def resolve(request: Request, options: Options) -> ResolvedRun:
    """Every configuration of a protocol run, parsed, resolved and validated (no work done)."""
    scale = check_scale(request.scale)
    require(request, [seed_check(request.seed, "--seed"), seed_check(request.pretrain_seed or 0, "--pretrain-seed")])
    protocol_cls = PROTOCOLS.get(request.protocol or PROTOCOLS.default())
    method_cls = METHODS.get(request.method)
    target, source = protocol_cls.datasets(request.dataset, request.source, default_dataset(options.data_root))
    overrides = Overrides.parse(request.overrides)
    config = protocol_cls.config(target.family, scale, overrides.protocol, source.family)
    seed = request.seed if request.pretrain_seed is None else request.pretrain_seed
    if request.checkpoint:
        encoder = _checkpoint_source(Path(request.checkpoint), request.method, overrides)
    elif protocol_cls.encoder != "untrained" and method_cls.pretrainable:
        job = resolve_pretraining(request.method, source.name, scale, seed, overrides)
        encoder = EncoderSource(
            "pretrained", pretraining=job, checkpoint_epoch=_evaluated_epoch(protocol_cls, config, job)
        )
    else:
        schedule = apply_overrides(apply_overrides(PretrainConfig(), PRETRAIN[scale]), overrides.pretrain)
        schedule.validate()  # only its window is used here, but a setting given is a setting checked
        method_config = method_cls.resolve_config(source.family, scale, overrides.method, window=schedule.window)
        encoder = EncoderSource("fresh", encoder_config=method_config.encoder, init_seed=seed)
    setting = protocol_cls.setting(config, target, source)
    spec = {"protocol": protocol_cls.name, "method": request.method, "dataset": target.name, "scale": scale,
            "protocol_config": to_dict(config), "encoder": encoder.identity()}  # fmt: skip
    digest = config_hash(spec)
    folder = runs_dir(options.runs_dir) / protocol_cls.name / f"{request.method}-{target.name}-{digest}-s{request.seed}"
    return ResolvedRun(request, protocol_cls, config, target, source, encoder, setting, digest, RunDir(folder))


def _evaluated_epoch(protocol_cls, config: Any, job: PretrainJob) -> int:
    """The pretraining epoch a protocol evaluates (-1: the final one); the pretraining keeps it."""
    epoch = protocol_cls.evaluated_epoch(config)
    if epoch >= job.config.epochs:
        raise UserError(f"checkpoint_epoch {epoch} does not exist: the pretraining runs {job.config.epochs} epochs "
                        f"(0 to {job.config.epochs - 1})")  # fmt: skip
    if epoch >= 0:
        job.config = dataclasses.replace(job.config, keep_epochs=tuple(sorted({*job.config.keep_epochs, epoch})))
    return epoch


def _checkpoint_source(checkpoint: Path, method: str, overrides: Overrides) -> EncoderSource:
    """A checkpoint to evaluate as ``method``: refused when it says another method trained it."""
    if not checkpoint.is_file():
        raise UserError(f"checkpoint {checkpoint} does not exist")
    if overrides.pretrain or overrides.method:
        ignored = [f"pretrain.{k}" for k in overrides.pretrain] + [f"method.{k}" for k in overrides.method]
        names = ", ".join(sorted(ignored))
        raise UserError(f"--set {names}: these configure a pretraining, which --checkpoint replaces")
    trained_by = checkpoint_method(load_checkpoint(checkpoint))
    if trained_by is not None and trained_by != method:
        raise UserError(f"checkpoint {checkpoint} was pretrained by {trained_by!r}, not {method!r}: "
                        f"run it with --method {trained_by}")  # fmt: skip
    return EncoderSource("checkpoint", checkpoint=checkpoint, checkpoint_sha256=sha256_file(checkpoint),
                         checkpoint_method=trained_by)  # fmt: skip


def existing_record(resolved: ResolvedRun, options: Options) -> dict[str, Any] | None:
    """The stored record of this run, if this runs folder produced it (a record from elsewhere, such as the
    committed smoke records in a fresh clone, is a result to compare with: the job runs, and
    ``git diff results/`` shows whether it reproduced) and the data it evaluated (or pretrained on) has
    not changed since."""
    r = resolved.request
    record = ResultsStore(options.results_dir).find(resolved.protocol_cls.name, resolved.target.name, r.method,
                                                    resolved.digest, r.seed)  # fmt: skip
    if record is None or not (resolved.run.path / "config.json").is_file():
        return None
    for key, spec in (("evaluated", resolved.target), ("pretrained_on", resolved.source)):
        recorded = record.get("data", {}).get(key, {}).get("fingerprint")
        if recorded and recorded != fingerprint(spec.path(options.data_root)):
            return None
    return record


def pretrain(request: Request, options: Options) -> Path:
    """Run (or finish, or reuse) the pretraining of ``request.method`` on ``request.dataset``;
    un-prefixed overrides configure the pretraining. Returns its folder."""
    dataset = request.dataset or default_dataset(options.data_root)
    job = resolve_pretraining(request.method, dataset, request.scale, request.seed,
                              Overrides.parse(request.overrides, bare="pretrain"))  # fmt: skip
    check_output_locations(Path(options.output_dir or runs_dir(options.runs_dir)), None, [get_dataset(dataset)])
    return run_pretraining(job, data_root=options.data_root, runs_root=options.runs_dir, output_dir=options.output_dir,
                           restart=options.restart, device=options.device, quiet=options.quiet, wait=options.wait,
                           allow_unverified=options.allow_unverified)  # fmt: skip


def run(request: Request, options: Options) -> dict[str, Any]:
    """Pretrain if needed, run the protocol, write the record (and its predictions); return it."""
    started = time.time()
    resolved = resolve(request, options)
    runtime = init_runtime(options.device)
    show = runtime.is_main and not options.quiet
    store = ResultsStore(options.results_dir)
    existing = existing_record(resolved, options)
    if existing is not None and not options.force:
        echo(f"already done: {store.path_for(existing)} (use --force to run again)", show)
        if runtime.is_main and resolved.run.path.is_dir() and not resolved.run.finished:  # a kill came in between
            write_json(resolved.run.path / "record.json", existing)  # (which also clears a killed write's temporary)
            resolved.run.write_summary({"finished": True, "record": str(store.path_for(existing))})
        return existing
    check_output_locations(runs_dir(options.runs_dir), store.root, {resolved.target, resolved.source})
    resolved.protocol_cls.check_data(resolved.config, check_dataset(resolved.target, options.data_root))
    make_encoder, encoder_record = _encoder_factory(resolved, options)
    with resolved.run.lock(options.wait) if runtime.is_main else contextlib.nullcontext():
        _open_run_dir(resolved, options, runtime, encoder_record)
        echo(f"{resolved.protocol_cls.name} of {request.method} on {resolved.target.name} (seed {request.seed}) -> "
             f"{resolved.run.path}", show)  # fmt: skip
        ctx = ProtocolContext(resolved.target, options.data_root, make_encoder, runtime, resolved.run, request.seed,
                              show, options.allow_unverified)  # fmt: skip
        metrics = resolved.protocol_cls().run(ctx, resolved.config)
        record = _record(resolved, encoder_record, metrics, ctx, options, runtime, started)
        if runtime.is_main:
            record = _publish(resolved, record, ctx, options)
    runtime.barrier()
    return record


def _open_run_dir(resolved: ResolvedRun, options: Options, runtime, encoder_record: dict[str, Any]) -> None:
    """Continue an unfinished run of the same configuration (the loop resumes from its last checkpoint);
    start over on --restart, or on --force when the folder holds a finished run; write its configuration."""
    run_dir = resolved.run
    discard = options.restart or (options.force and run_dir.finished)
    data = fingerprint(resolved.target.path(options.data_root))
    if not discard:
        run_dir.check_config_hash(resolved.digest, data)
    if not runtime.is_main:
        return
    if discard:
        for old in ("checkpoint-last.pth", "log.jsonl", "summary.json", "record.json", "predictions.npz"):
            (run_dir.path / old).unlink(missing_ok=True)
        for events in run_dir.path.glob(EVENTS_GLOB):
            events.unlink()
    run_dir.write_config({"config_hash": resolved.digest, "seed": resolved.request.seed, "setting": resolved.setting,
                          "protocol_config": to_dict(resolved.config), "encoder": encoder_record,
                          "data_fingerprint": data, "environment": environment(runtime)})  # fmt: skip


def _publish(resolved: ResolvedRun, record: dict[str, Any], ctx: ProtocolContext, options: Options) -> dict:
    """The record and its predictions into the run folder and the results store; the stored record."""
    predictions = ctx.predictions.to_bytes() if ctx.predictions is not None else None
    if predictions is not None:
        write_bytes(resolved.run.path / "predictions.npz", predictions)
    epochs = resolved.run.log_records() or _single_evaluation(resolved.run, record["metrics"])
    stored = ResultsStore(options.results_dir).write(record, predictions, epoch_log_csv(epochs))
    write_json(resolved.run.path / "record.json", stored)
    resolved.run.write_summary({"finished": True, "record": str(ResultsStore(options.results_dir).path_for(stored))})
    return stored


def _single_evaluation(run: RunDir, metrics: dict[str, Any]) -> list[dict[str, Any]]:
    """The log of a protocol that does not train (k-NN): its one evaluation, also as TensorBoard scalars
    (the training loop writes them for every other run)."""
    evaluation = {"epoch": 0, "top1": metrics.get("top1_final"), "top5": metrics.get("top5_final")}
    with MetricLogs(run.path, 0, True) as logs:
        logs.epoch(0, evaluation)
    return [evaluation]


def data_provenance(spec: DatasetSpec, data_root: str | None) -> dict[str, Any]:
    """Which file a dataset name resolved to and whether it is synthetic (by name, or by the mark
    its preparation carried over from a generated raw tree)."""
    path = spec.path(data_root)
    found = file_provenance(path)
    return {"dataset": spec.name, "file": str(path), "synthetic": spec.synthetic or bool(found.get("synthetic")),
            "fingerprint": fingerprint(path), "provenance": found}  # fmt: skip


def _encoder_factory(resolved: ResolvedRun, options: Options):
    """Pretrain when needed (or reuse the pretraining); (a function giving fresh encoders, the
    encoder's description for the record)."""
    source = resolved.encoder
    info = source.identity()
    if source.kind == "checkpoint":
        load_encoder(source.checkpoint)  # fail now, with the message, if it is not usable
        info["checkpoint"] = str(source.checkpoint)
        return (lambda: load_encoder(source.checkpoint)), info
    if source.kind == "pretrained":
        pretraining = RunDir(source.pretraining.folder(options.runs_dir))
        # --restart starts the evaluation over; the pretraining too when it is unfinished or on other data
        data = fingerprint(resolved.source.path(options.data_root))
        restart = options.restart and not (pretraining.finished and pretraining.same_data(data))
        run_path = run_pretraining(source.pretraining, data_root=options.data_root, runs_root=options.runs_dir,
                                   restart=restart, device=options.device, quiet=options.quiet, wait=options.wait,
                                   allow_unverified=options.allow_unverified)  # fmt: skip
        checkpoint, digest = finished_checkpoint(run_path, options.allow_unverified, source.checkpoint_epoch)
        info.update(pretrain_run=str(run_path), checkpoint=str(checkpoint), checkpoint_sha256=digest)
        return (lambda: load_encoder(checkpoint)), info

    def fresh() -> SkeletonEncoder:
        torch.manual_seed(source.init_seed)
        return SkeletonEncoder(source.encoder_config)

    return fresh, info


def row_hash(resolved: ResolvedRun, encoder: dict[str, Any]) -> str:
    """What makes a row of a results table: the method, protocol and scale, the user's overrides
    (not the per-dataset presets, which differ between columns, nor the protocol's setting keys,
    which pick the column), and the checkpoint if one was given."""
    request, keys = resolved.request, resolved.protocol_cls.setting_keys
    overrides = {k: str(v) for k, v in request.overrides.items() if k not in keys}
    row = {"method": request.method, "protocol": resolved.protocol_cls.name, "scale": request.scale,
           "overrides": overrides}  # fmt: skip
    if encoder["kind"] == "checkpoint":
        row["checkpoint_sha256"] = encoder["checkpoint_sha256"]
    return config_hash(row)


def _record(resolved: ResolvedRun, encoder: dict, metrics: dict, ctx: ProtocolContext, options: Options, runtime,
            started: float) -> dict:  # fmt: skip
    """The record of a run: what produced the number (method, data, configuration, code, machine) and
    the number, its accuracies computed from the run's per-clip predictions."""
    request, target = resolved.request, resolved.target
    data = {"evaluated": data_provenance(target, options.data_root)}
    if resolved.encoder.kind == "pretrained":
        data["pretrained_on"] = data_provenance(resolved.source, options.data_root)
    if ctx.predictions is not None:
        metrics = {**metrics, **ctx.predictions.metrics()}
    return {
        "method": request.method,
        "protocol": resolved.protocol_cls.name,
        "dataset": target.name,
        "family": target.family,
        "split": target.split,
        "synthetic": any(entry["synthetic"] for entry in data.values()),
        "data": data,
        "source_dataset": resolved.source.name if resolved.source.name != target.name else None,
        "seed": request.seed,
        "scale": request.scale,
        "config_hash": resolved.digest,
        "fidelity": getattr(resolved.config, "fidelity", "clean"),
        "setting": resolved.setting,
        "overrides": {k: str(v) for k, v in sorted(request.overrides.items())},
        "row_hash": row_hash(resolved, encoder),
        "protocol_config": to_dict(resolved.config),
        "encoder": encoder,
        "metrics": metrics,
        "extras": ctx.extras,
        "environment": environment(runtime),
        "suite_version": __version__,
        "wall_seconds": round(time.time() - started, 2),
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "run_dir": str(resolved.run.path),
    }
