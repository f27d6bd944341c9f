"""The pipeline: a request planned once (``plan.py``), then run in a straight line.

request -> plan -> pretraining (run, continued or reused, as the plan says) -> the protocol's run ->
its result -> the record, published into the run folder and the results store. An interrupted
pretraining or protocol run continues from its last epoch when the same request comes again
(``restart`` discards it). The command line, the Python API and ``reproduce`` call it.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import time
from pathlib import Path
from typing import Any

import numpy as np

from mamp_bench.config import to_dict
from mamp_bench.console import echo
from mamp_bench.engine.distributed import environment
from mamp_bench.engine.metric_logs import EVENTS_GLOB
from mamp_bench.engine.pretrain import pretrain as run_pretraining
from mamp_bench.evaluation.protocol import ProtocolContext, ProtocolResult
from mamp_bench.fileio import atomic_write, write_bytes, write_json
from mamp_bench.plan import Options, Request, RunPlan, plan_pretraining, plan_run
from mamp_bench.results.store import ResultsStore, epoch_log_csv, row_hash, scores_npy
from mamp_bench.version import __version__

__all__ = ["Options", "Request", "pretrain", "run"]


def run(request: Request, options: Options) -> dict[str, Any]:
    """Plan, pretrain if needed, run the protocol, write the record (and its predictions); return it."""
    started = time.time()
    plan = plan_run(request, options)
    resolved, folder, store = plan.resolved, plan.resolved.folder, ResultsStore(options.results_dir)
    if plan.existing is not None and not options.force:
        echo(f"already done: {store.path_for(plan.existing)} (use --force to run again)", plan.show)
        if plan.is_main and folder.path.is_dir() and not plan.folder_state.finished:  # a kill came in between
            write_json(folder.path / "record.json", plan.existing)  # (which also clears a killed write's temporary)
            folder.write_summary({"finished": True, "record": str(store.path_for(plan.existing))})
        return plan.existing
    # the record names the encoder and its configuration beside the identity (which determines them)
    encoder = {**resolved.encoder.identity, "name": resolved.encoder.name,
               "config": to_dict(resolved.encoder.encoder_config)}  # fmt: skip
    if resolved.encoder.kind == "pretrained":
        checkpoint, digest = run_pretraining(plan.pretraining, plan.runtime, plan.environment, show=plan.show,
                                             wait=options.wait, allow_unverified=options.allow_unverified)  # fmt: skip
        encoder.update(pretrain_run=str(plan.pretraining.folder.path), checkpoint=str(checkpoint),
                       checkpoint_sha256=digest)  # fmt: skip
    elif resolved.encoder.kind == "checkpoint":
        resolved.encoder.load()  # an unusable checkpoint fails now, before the run starts
        encoder["checkpoint"] = str(resolved.encoder.checkpoint)
    with folder.lock(resolved.digest, options.wait) if plan.is_main else contextlib.nullcontext():
        if plan.discard and plan.is_main:
            folder.discard(("checkpoint-last.pth", "log.jsonl", "summary.json", "record.json", "predictions.npz"),
                           (EVENTS_GLOB,))  # fmt: skip
        if plan.is_main:
            folder.write_config({"config_hash": resolved.digest, "seed": request.seed, "setting": resolved.setting,
                                 "protocol_config": to_dict(resolved.config), "encoder": encoder,
                                 "data_fingerprint": plan.target.fingerprint,
                                 "environment": plan.environment})  # fmt: skip
        echo(f"{resolved.protocol.name} of {request.method} on {plan.target.spec.name} (seed {request.seed}) -> "
             f"{folder.path}", plan.show)  # fmt: skip
        ctx = ProtocolContext(plan.target.spec, plan.target.path, resolved.encoder.load, plan.runtime, folder,
                              request.seed, plan.show, options.allow_unverified)  # fmt: skip
        result = resolved.protocol().run(ctx, resolved.config)
        record = publish(plan, encoder, result, store, started) if plan.is_main else None
    plan.runtime.barrier()
    return record


def pretrain(request: Request, options: Options) -> Path:
    """Run (or finish, or reuse) the pretraining of ``request.method`` on ``request.dataset``;
    un-prefixed overrides configure the pretraining. Returns its folder."""
    plan, runtime = plan_pretraining(request, options)
    run_pretraining(plan, runtime, environment(runtime), show=runtime.is_main and not options.quiet,
                    wait=options.wait, allow_unverified=options.allow_unverified)  # fmt: skip
    return plan.folder.path


def publish(
    plan: RunPlan, encoder: dict[str, Any], result: ProtocolResult, store: ResultsStore, started: float
) -> dict:
    """The record of a run's result, with its predictions and confusion matrices, into the run folder and the
    results store; the stored record."""
    folder, record = plan.resolved.folder, record_of(plan, encoder, result, started)
    predictions = result.predictions.to_bytes()
    write_bytes(folder.path / "predictions.npz", predictions)
    best = result.predictions.metrics()["best_epoch"] - 1  # counted from 1; an index of top1_by_epoch here
    for name, epoch in (("final", -1), ("best", best)):
        with atomic_write(folder.path / f"confusion_{name}.csv", "w") as handle:  # never half-written
            np.savetxt(handle, result.predictions.confusion(epoch), fmt="%d", delimiter=",")
    stored = store.write(record, predictions, epoch_log_csv(result.epochs), scores_npy(result.scores))
    write_json(folder.path / "record.json", stored)
    folder.write_summary({"finished": True, "record": str(store.path_for(stored))})
    return stored


def record_of(plan: RunPlan, encoder: dict[str, Any], result: ProtocolResult, started: float) -> dict[str, Any]:
    """The record of a run: what produced the number (method, data, configuration, code, machine) and
    the number, its accuracies computed from the run's per-clip predictions."""
    request, resolved = plan.request, plan.resolved
    row = row_hash(request.method, resolved.protocol.name, request.scale, request.overrides,
                   resolved.protocol.setting_keys, encoder)  # fmt: skip
    overrides = {k: str(v) for k, v in sorted(request.overrides.items())}
    synthetic = plan.target.synthetic or (resolved.encoder.kind == "pretrained" and plan.source.synthetic)
    data = {"evaluated": plan.target.describe()}
    if resolved.encoder.kind == "pretrained":
        data["pretrained_on"] = plan.source.describe()
    return {
        "method": request.method,
        "protocol": resolved.protocol.name,
        "dataset": resolved.target.name,
        "family": resolved.target.family,
        "split": resolved.target.split,
        "synthetic": synthetic,
        "data": data,
        "source_dataset": resolved.source.name if resolved.source.name != resolved.target.name else None,
        "seed": request.seed,
        "scale": request.scale,
        "config_hash": resolved.digest,
        "fidelity": getattr(resolved.config, "fidelity", "clean"),
        "recipe": resolved.recipe,
        "setting": resolved.setting,
        "overrides": overrides,
        "row_hash": row,
        "protocol_config": to_dict(resolved.config),
        "encoder": encoder,
        "metrics": {**result.metrics, **result.predictions.metrics()},
        "extras": result.extras,
        "environment": plan.environment,
        "suite_version": __version__,
        "wall_seconds": round(time.time() - started, 2),
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "run_dir": str(resolved.folder.path),
    }
