"""A run's plan: everything a run needs, decided once, before any work.

A ``Request`` says what to run (method, protocol, dataset, scale, seed, ``--set`` overrides); ``Options`` say where
and how (folders, device, start over), which never changes a number. ``resolve`` parses the overrides once into the
typed configurations (the protocol's recipe, the pretraining schedule, the method's dataclass), each validated, and
works out the encoder to evaluate: a checkpoint, a pretraining (a ``PretrainJob``, shared by every protocol that
needs it and found again by its hash) or a fresh initialisation. The encoder decides the rest: the data chain its
clips come from (``ntu60-xsub`` is ``NTU60_XSub_frame50.npz`` for ST-GCN) and the protocol recipe it follows (its
``recipe``). ``plan_run`` adds what this machine and these folders hold: the runtime (device, processes) and
environment, each dataset's prepared file and fingerprint (read once per file), the checks that a run can finish
(outputs writable, data usable, batches that fit), the pretraining's folder and its state (finished and verified on
the same data, to resume, or new), the protocol's folder, and the stored record of an identical run. The pipeline
then runs the plan in a straight line (``pipeline.py``); nothing below it reads a setting, hashes a checkpoint or
validates a configuration again.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from mamp_bench.checkpoints import load_checkpoint
from mamp_bench.config import require, to_dict
from mamp_bench.data.npzio import check_splits
from mamp_bench.data.specs import DataFile, DatasetSpec, default_dataset, for_chain, found, get_dataset, prepared
from mamp_bench.engine.distributed import Runtime, environment, init_runtime
from mamp_bench.engine.pretrain import PretrainJob, PretrainPlan, method_configuration, pretrain_schedule
from mamp_bench.engine.run_folder import FolderState, RunFolder
from mamp_bench.errors import UserError
from mamp_bench.fileio import ensure_writable, sha256_file
from mamp_bench.methods.checkpoints import checkpoint_method
from mamp_bench.models.encoder import Encoder
from mamp_bench.models.loading import checkpoint_encoder, load_encoder
from mamp_bench.registry import ENCODERS, METHODS, PROTOCOLS
from mamp_bench.results.store import ResultsStore, run_hash
from mamp_bench.scales import check_scale
from mamp_bench.seeding import seed_check
from mamp_bench.settings import CACHE_ENV, cache_dir, runs_dir


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


@dataclass(frozen=True)
class EncoderSource:
    """The encoder a protocol evaluates, and how to load it: a checkpoint, a pretraining's checkpoint, or a
    fresh initialisation; which registered encoder it is and its configuration."""

    kind: str  # "checkpoint", "pretrained" or "fresh"
    identity: dict[str, Any]  # what the run's hash covers: the checkpoint by content, not by path
    name: str  # the registered encoder (``ENCODERS``)
    encoder_config: Any  # its configuration
    checkpoint: Path | None = None  # the file loaded (pretrained: the one the pretraining writes or wrote)
    checkpoint_sha256: str | None = None  # a given checkpoint's, hashed once when the request is resolved
    checkpoint_method: str | None = None  # the method the checkpoint says trained it (None: it does not say)
    checkpoint_epoch: int = -1  # pretrained: the pretraining epoch evaluated (-1: the final one)
    pretraining: PretrainJob | None = None
    init_seed: int = 0

    @property
    def encoder_class(self) -> type[Encoder]:
        return ENCODERS.get(self.name)

    def load(self) -> Encoder:
        """A fresh copy of the encoder (a protocol calls it through its context)."""
        if self.checkpoint is not None:
            return load_encoder(self.checkpoint)
        torch.manual_seed(self.init_seed)
        return self.encoder_class(self.encoder_config)


@dataclass(frozen=True)
class ResolvedRun:
    """A request with every configuration resolved and validated; no data read, no work done."""

    request: Request
    protocol: Any  # the protocol's class
    config: Any  # the protocol's hyperparameters
    target: DatasetSpec  # the evaluated dataset
    source: DatasetSpec  # the pretraining dataset (the target, except for transfer)
    encoder: EncoderSource
    setting: dict[str, Any]  # the protocol's setting keys and their values
    digest: str
    folder: RunFolder
    recipe: str  # the recipe family the protocol's configuration came from (the encoder's)


@dataclass(frozen=True)
class RunPlan:
    """Everything a protocol run needs, decided once (``plan_run``)."""

    request: Request
    resolved: ResolvedRun
    options: Options
    runtime: Runtime
    is_main: bool  # this process writes the files
    show: bool  # this process prints progress
    environment: dict[str, Any]  # what produced the run: code, software, machine, processes
    target: DataFile  # the evaluated dataset's prepared file
    source: DataFile  # the pretraining dataset's (the same file, except for transfer)
    train_clips: int  # of the evaluated training split
    pretraining: PretrainPlan | None  # the pretraining the encoder comes from (None: checkpoint or fresh)
    folder_state: FolderState  # the protocol run's folder
    discard: bool  # start the protocol run over (--restart, or --force on a finished run)
    existing: dict[str, Any] | None  # the stored record of this run, when this runs folder wrote it on this data


# -- resolving a request: configurations ---------------------------------------------------------------


def resolve(request: Request, options: Options) -> ResolvedRun:
    """Every configuration of a protocol run, parsed, resolved and validated (no data read)."""
    scale = check_scale(request.scale)
    require(request, [seed_check(request.seed, "--seed"), seed_check(request.pretrain_seed or 0, "--pretrain-seed")])
    overrides = Overrides.parse(request.overrides)
    protocol_cls = PROTOCOLS.get(request.protocol or PROTOCOLS.default())
    method_cls = METHODS.get(request.method)
    given = checkpoint_source(Path(request.checkpoint), request.method, overrides) if request.checkpoint else None
    encoder_cls = given.encoder_class if given else ENCODERS.get(method_cls.encoder_name)
    target, source = protocol_cls.datasets(request.dataset, request.source,
                                           default_dataset(options.data_root, encoder_cls.chain))  # fmt: skip
    target, source = for_chain(target, encoder_cls.chain), for_chain(source, encoder_cls.chain)
    config = protocol_cls.config(target.family, scale, overrides.protocol, source.family, encoder_cls.recipe)
    setting = protocol_cls.setting(config, target, source)
    seed = request.seed if request.pretrain_seed is None else request.pretrain_seed
    if given:
        encoder = given
    elif protocol_cls.encoder != "untrained" and method_cls.pretrainable:
        epoch = protocol_cls.evaluated_epoch(config)
        job = PretrainJob.resolve(request.method, source, scale, seed, overrides.pretrain, overrides.method, epoch)
        checkpoint = job.folder(options.runs_dir) / f"checkpoint-{epoch if epoch >= 0 else job.config.epochs - 1}.pth"
        identity = {"kind": "pretrained", "pretrain_dataset": job.dataset, "pretrain_seed": job.config.seed,
                    "pretrain_hash": job.digest, "pretrain_config": job.spec(), "checkpoint_epoch": epoch}  # fmt: skip
        encoder = EncoderSource("pretrained", identity, method_cls.encoder_name, job.method_config.encoder,
                                checkpoint, pretraining=job, checkpoint_epoch=epoch)  # fmt: skip
    else:
        schedule = pretrain_schedule(scale, overrides.pretrain)  # only its window is used; a setting given is checked
        method_config = method_configuration(method_cls, source.family, scale, overrides.method, schedule.window)
        identity = {"kind": "fresh", "encoder_config": to_dict(method_config.encoder), "init_seed": seed}
        encoder = EncoderSource("fresh", identity, method_cls.encoder_name, method_config.encoder, init_seed=seed)
    digest = run_hash(protocol_cls.name, request.method, target.name, scale, to_dict(config), encoder.identity)
    folder = runs_dir(options.runs_dir) / protocol_cls.name / f"{request.method}-{target.name}-{digest}-s{request.seed}"
    return ResolvedRun(request, protocol_cls, config, target, source, encoder, setting, digest, RunFolder(folder),
                       encoder_cls.recipe)  # fmt: skip


def checkpoint_source(checkpoint: Path, method: str, overrides: Overrides) -> EncoderSource:
    """A checkpoint to evaluate as ``method``: refused when it says another method trained it."""
    if not checkpoint.is_file():
        raise UserError(f"checkpoint {checkpoint} does not exist")
    if overrides.pretrain or overrides.method:
        ignored = [f"pretrain.{k}" for k in overrides.pretrain] + [f"method.{k}" for k in overrides.method]
        names = ", ".join(sorted(ignored))
        raise UserError(f"--set {names}: these configure a pretraining, which --checkpoint replaces")
    loaded = load_checkpoint(checkpoint)
    trained_by = checkpoint_method(loaded)
    if trained_by is not None and trained_by != method:
        raise UserError(f"checkpoint {checkpoint} was pretrained by {trained_by!r}, not {method!r}: "
                        f"run it with --method {trained_by}")  # fmt: skip
    encoder_cls, encoder_config = checkpoint_encoder(loaded)
    digest = sha256_file(checkpoint)
    identity = {"kind": "checkpoint", "checkpoint_sha256": digest, "checkpoint_method": trained_by}
    return EncoderSource("checkpoint", identity, encoder_cls.name, encoder_config, checkpoint, digest, trained_by)


# -- planning a run: this machine, these folders, this data --------------------------------------------


def plan_run(request: Request, options: Options) -> RunPlan:
    """The plan of a protocol run: its configurations, runtime, data, folders and their states, every check
    that it can finish passed (one line each otherwise), before any work."""
    resolved = resolve(request, options)
    encoder, folder = resolved.encoder, resolved.folder
    runtime = init_runtime(options.device)
    produced_by = environment(runtime)
    ensure_writable(runs_dir(options.runs_dir), "runs folder", "choose another with --runs-dir or MAMP_BENCH_RUNS")
    for spec in (resolved.target, resolved.source):  # a synthetic set still to generate is written to the cache
        if spec.synthetic and not spec.path().is_file():
            ensure_writable(cache_dir(), "cache", f"the synthetic data is generated there; set {CACHE_ENV}")
    target = prepared(resolved.target, options.data_root)
    sizes = check_splits(target.path, target.spec.num_classes, target.spec.name)
    resolved.protocol.check_data(resolved.config, sizes["train"], runtime.world_size)
    source, pretraining, fingerprints = target, None, {"evaluated": target.fingerprint}
    if encoder.kind == "pretrained":
        if resolved.source != resolved.target:  # transfer: pretrained on another dataset
            source = prepared(resolved.source, options.data_root)
        source_sizes = sizes if source is target else check_splits(source.path, source.spec.num_classes,
                                                                   source.spec.name)  # fmt: skip
        pretraining = PretrainPlan.make(encoder.pretraining, source.path, source.fingerprint, encoder.checkpoint.parent,
                                        epoch=encoder.checkpoint_epoch, restart=options.restart, keep_finished=True,
                                        allow_unverified=options.allow_unverified)  # fmt: skip
        pretraining.check_fits(source_sizes["train"], runtime.world_size)
        fingerprints["pretrained_on"] = source.fingerprint
    discard = options.restart or (options.force and folder.finished)
    folder_state = FolderState(False, False) if discard else folder.inspect(resolved.digest, target.fingerprint)
    store = ResultsStore(options.results_dir)
    ensure_writable(store.root, "results folder", "choose another with --results-dir or MAMP_BENCH_RESULTS")
    existing = store.reusable(resolved.protocol.name, target.spec.name, request.method, resolved.digest, request.seed,
                              folder.path, fingerprints)  # fmt: skip
    is_main = runtime.rank == 0
    return RunPlan(request, resolved, options, runtime, is_main, is_main and not options.quiet, produced_by, target,
                   source, sizes["train"], pretraining, folder_state, discard, existing)  # fmt: skip


def plan_pretraining(request: Request, options: Options) -> tuple[PretrainPlan, Runtime]:
    """The plan of a pretraining on its own (``mamp-bench pretrain``): un-prefixed overrides configure the
    pretraining; its folder is ``options.output_dir`` or the one its hash names."""
    chain = ENCODERS.get(METHODS.get(request.method).encoder_name).chain
    spec = for_chain(get_dataset(request.dataset or default_dataset(options.data_root, chain)), chain)
    overrides = Overrides.parse(request.overrides, bare="pretrain")
    job = PretrainJob.resolve(request.method, spec, request.scale, request.seed, overrides.pretrain, overrides.method)
    runtime = init_runtime(options.device)
    folder = Path(options.output_dir) if options.output_dir else job.folder(options.runs_dir)
    ensure_writable(options.output_dir or runs_dir(options.runs_dir), "runs folder",
                    "choose another with --runs-dir or MAMP_BENCH_RUNS")  # fmt: skip
    if spec.synthetic and not spec.path().is_file():
        ensure_writable(cache_dir(), "cache", f"the synthetic data is generated there; set {CACHE_ENV}")
    data = prepared(spec, options.data_root)
    plan = PretrainPlan.make(job, data.path, data.fingerprint, folder, restart=options.restart,
                             allow_unverified=options.allow_unverified)  # fmt: skip
    plan.check_fits(check_splits(data.path, spec.num_classes, spec.name)["train"], runtime.world_size)
    return plan, runtime


def stored_record(resolved: ResolvedRun, options: Options) -> dict[str, Any] | None:
    """The stored record of a resolved run, as ``plan_run`` would find it, without preparing any data (for
    ``reproduce``'s plan: a dataset not prepared yet has no record)."""
    target = found(resolved.target, options.data_root)
    fingerprints = {"evaluated": target.fingerprint if target else None}
    if resolved.encoder.kind == "pretrained":
        source = found(resolved.source, options.data_root)
        fingerprints["pretrained_on"] = source.fingerprint if source else None
    if None in fingerprints.values():
        return None
    r, store = resolved.request, ResultsStore(options.results_dir)
    return store.reusable(resolved.protocol.name, resolved.target.name, r.method, resolved.digest, r.seed,
                          resolved.folder.path, fingerprints)  # fmt: skip
