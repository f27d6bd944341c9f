"""The model zoo: the checkpoints the suite knows, each with the numbers it gives or should give.

* **official**: the authors' released MAMP checkpoints, with the published figures they should
  reproduce (``MAMP-README-ckpt`` in ``reported.csv``); the README publishes no sha256 for them.
* **export**: checkpoints exported with ``mamp-bench export-checkpoint``: the file copied byte for
  byte into the zoo folder, named ``<method>_<epochs>e_<dataset>-<first 8 hex digits of its
  sha256>.pth`` and described by a metafile beside it (``<same name>.json``), laid out as MMAction2's
  ``metafile.yml`` entries are: Name, Weights, Config, Metadata (training data, epochs, parameters),
  Results (one per record that evaluated it, with the record's path).
* **run**: finished pretrainings in the runs folder, not exported (yet).

A checkpoint's results are the records of the results store that name its sha256 (a copy has the
sha256 of its original, so the records of runs on the original count).
"""

from __future__ import annotations

import datetime as _dt
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from mamp_bench.checkpoints import MAX_CHECKPOINT_BYTES, checkpoint_format, load_checkpoint, suite_state
from mamp_bench.config import to_dict
from mamp_bench.engine.distributed import git_state
from mamp_bench.engine.run_folder import RunFolder
from mamp_bench.errors import DataFormatError, UserError
from mamp_bench.fileio import read_json, read_regular, refuse_overwriting_inputs, sha256_file, write_bytes, write_json
from mamp_bench.methods.checkpoints import checkpoint_method
from mamp_bench.models.loading import checkpoint_encoder
from mamp_bench.registry import METHODS
from mamp_bench.results.reported import reported
from mamp_bench.results.store import ResultsStore
from mamp_bench.results.verify import check_store
from mamp_bench.settings import runs_dir
from mamp_bench.version import __version__

ZOO_ENV = "MAMP_BENCH_ZOO"
OFFICIAL_URL = "https://rec.ustc.edu.cn/share/64bde560-5939-11ee-bf1f-5fbb082a1db4"
OFFICIAL_ROWS = "MAMP-README-ckpt"


def zoo_dir(explicit: str | os.PathLike[str] | None = None, runs: str | os.PathLike[str] | None = None) -> Path:
    """``--zoo-dir``, ``MAMP_BENCH_ZOO`` or ``<runs folder>/zoo``."""
    return Path(explicit or os.environ.get(ZOO_ENV) or runs_dir(runs) / "zoo").expanduser()


@dataclass
class ZooEntry:
    kind: str  # "official", "export" or "run"
    name: str
    method: str
    dataset: str  # what it was pretrained on
    epochs: int | None
    sha256: str | None
    file: str  # a path, or where to download it
    results: list[dict[str, Any]] = field(default_factory=list)  # {"protocol", "dataset", "top1", "source"}
    encoder: str = "?"  # the registered encoder it holds

    def describe_results(self) -> str:
        parts = [f"{r['protocol']} {r['dataset']}{r.get('seed_note', '')}: {r['top1']:.1f}" for r in self.results]
        return "; ".join(parts) or "-"


def official_entries() -> list[ZooEntry]:
    """The released checkpoints, one per pretraining dataset, with the figures the README publishes."""
    rows = reported()
    rows = rows[rows["method"] == OFFICIAL_ROWS]
    entries = []
    for (dataset, split), group in rows.groupby(["dataset", "split"], sort=True):
        results = [{"protocol": f"{r.protocol} (published)", "dataset": f"{dataset}-{split}", "top1": float(r.value),
                    "source": r.source} for r in group.itertuples()]  # fmt: skip
        method = METHODS.default()  # the suite's own method is the authors' (MAMP)
        entries.append(ZooEntry("official", f"{method}-official-{dataset}-{split}", method, f"{dataset}-{split}", 400,
                                None, OFFICIAL_URL, results, _encoder_of(method)))  # fmt: skip
    return entries


def evaluations(store: ResultsStore, sha256: str) -> list[dict[str, Any]]:
    """The records of the store that evaluated the checkpoint with this sha256."""
    found = [evaluation(store, record) for record, _ in check_store(store.root).passed()  # each measurement once
             if record.get("encoder", {}).get("checkpoint_sha256") == sha256]  # fmt: skip
    return sorted(found, key=evaluation_order)


def evaluation(store: ResultsStore, record: dict[str, Any]) -> dict[str, Any]:
    """What a zoo entry lists of a record that evaluated its checkpoint."""
    # the evaluation's own settings (a fraction, k): the pretraining's are the checkpoint's, listed once
    protocol = {k: v for k, v in record.get("overrides", {}).items() if not k.startswith(("pretrain.", "method."))}
    metrics, setting = record.get("metrics", {}), {**record.get("setting", {}), **protocol}
    shown = ", ".join(f"{key}={value}" for key, value in sorted(setting.items()))
    return {"protocol": record["protocol"], "dataset": record["dataset"], "seed": record["seed"], "setting": setting,
            "top1": metrics.get("top1_best"), "top1_final": metrics.get("top1_final"),
            "seed_note": (f" ({shown})" if shown else "") + f" s{record['seed']}",
            "record": str(store.path_for(record))}  # fmt: skip


def evaluation_order(entry: dict[str, Any]) -> tuple:
    return (entry["protocol"], entry["dataset"], entry["seed"])


def run_entries(runs: Path, store: ResultsStore) -> list[ZooEntry]:
    """Finished pretrainings of the runs folder (their final checkpoint, sha256 as their log recorded it)."""
    entries = []
    for summary in sorted((runs / "pretrain").glob("*/summary.json")):
        run = RunFolder(summary.parent)
        config_file = summary.parent / "config.json"
        if not run.finished or not config_file.is_file():
            continue
        try:
            config = read_json(config_file, "run configuration")
        except DataFormatError:
            continue  # not a run's configuration: nothing to list
        if not isinstance(config, dict):
            continue
        final = run.summary().get("final_checkpoint", "")
        epochs = run.summary().get("epochs")
        recorded = {r["epoch"]: r.get("checkpoint_sha256") for r in run.log_records()}
        sha = recorded.get((epochs or 0) - 1)
        results = evaluations(store, sha) if sha else []
        method = config.get("method", "?")
        entries.append(ZooEntry("run", summary.parent.name, method, config.get("dataset", "?"), epochs, sha,
                                str(summary.parent / final), results, _encoder_of(method)))  # fmt: skip
    return entries


def export_entries(folder: Path, store: ResultsStore) -> list[ZooEntry]:
    """The exports of a zoo folder, from their metafiles, with the records that evaluated them since."""
    entries = []
    for meta_file in sorted(folder.glob("*.json")):
        try:
            meta = read_json(meta_file, "zoo metafile")
            sha, metadata = meta["sha256"], meta["Metadata"]
        except (DataFormatError, KeyError, TypeError):
            continue  # not a metafile of this zoo
        weights = folder / meta.get("Weights", "")
        encoder = meta.get("Encoder") if isinstance(meta.get("Encoder"), dict) else {}
        entries.append(ZooEntry("export", meta.get("Name", meta_file.stem), meta.get("Method", "?"),
                                metadata.get("Training Data", "?"), metadata.get("Epochs"), sha,
                                str(weights) if weights.is_file() else f"{weights} (missing)",
                                evaluations(store, sha), encoder.get("name", "?")))  # fmt: skip
    return entries


def _encoder_of(method: str) -> str:
    """The encoder a registered method trains ("?" for one not registered here)."""
    return METHODS.get(method).encoder_name if method in METHODS else "?"


def zoo_entries(zoo: Path, runs: Path, results_dir: str | None = None) -> list[ZooEntry]:
    store = ResultsStore(results_dir)
    exported = export_entries(zoo, store)
    known = {entry.sha256 for entry in exported}
    runs_not_exported = [entry for entry in run_entries(runs, store) if entry.sha256 not in known]
    return official_entries() + exported + runs_not_exported


def entry_dicts(entries: list[ZooEntry]) -> list[dict[str, Any]]:
    return [asdict(entry) for entry in entries]


def render_zoo(entries: list[ZooEntry]) -> str:
    """The listing ``mamp-bench zoo`` prints: a GitHub table, then where each kind of file is found."""
    from tabulate import tabulate

    rows = [[e.kind, e.name, e.method, e.encoder, e.dataset, e.epochs or "-", (e.sha256 or "-")[:8],
             e.describe_results()] for e in entries]  # fmt: skip
    headers = ["kind", "name", "method", "encoder", "pretrained on", "epochs", "sha256", "top-1 (%)"]
    return (tabulate(rows, headers, tablefmt="github", disable_numparse=True) + f"\n\nofficial: download from "
            f"{OFFICIAL_URL}, then `mamp-bench run --checkpoint FILE --dataset DATASET --protocol linear --scale "
            "paper`; exports and runs: `mamp-bench zoo --json` gives each file\n")  # fmt: skip


def export_name(method: str, epochs: int | None, dataset: str, sha256: str) -> str:
    """An export's name: ``<method>_<epochs>e_<dataset>-<first 8 hex digits of its sha256>``."""
    return f"{method}_{epochs if epochs is not None else 'unknown-'}e_{dataset}-{sha256[:8]}"


@dataclass
class Described:
    """What an export needs to know about a checkpoint."""

    method: str
    dataset: str
    epochs: int | None
    config: dict[str, Any]
    parameters: int
    encoder: dict[str, Any]  # the registered encoder's name and configuration


def describe_checkpoint(path: Path, dataset: str | None, method: str | None = None) -> Described:
    """Method, pretraining dataset, epochs, configuration and encoder of a suite or official checkpoint
    (``method``: for one that does not say, as an AimCLR/SkeletonCLR one)."""
    checkpoint = load_checkpoint(path)
    fmt = checkpoint_format(checkpoint)
    encoder = sum(v.numel() for k, v in suite_state(checkpoint).items() if k.startswith("encoder."))
    said = checkpoint_method(checkpoint) or (METHODS.default() if fmt == "official" else None)
    if said and method and said != method:
        raise UserError(f"checkpoint {path} was pretrained by {said!r}, not {method!r}")
    method = said or method
    dataset = dataset or checkpoint.get("dataset")
    if method is None or dataset is None:
        missing = "--dataset (the checkpoint does not name the data it was pretrained on)" if method else "--method"
        raise UserError(f"checkpoint {path} needs {missing} to be exported")
    encoder_cls, encoder_config = checkpoint_encoder(checkpoint)
    epoch = checkpoint.get("epoch")
    config = {"pretrain": checkpoint.get("pretrain_config"), "method_config": checkpoint.get("method_config")}
    if fmt == "official":
        config = {"official_args": {k: str(v) for k, v in vars(checkpoint.get("args") or object()).items()}}
    return Described(method, dataset, int(epoch) + 1 if epoch is not None else None, config, encoder,
                     {"name": encoder_cls.name, "config": to_dict(encoder_config)})  # fmt: skip


def resolve_source(source: Path) -> tuple[Path, str]:
    """(checkpoint, sha256): a pretraining run folder gives its final checkpoint, checked against its log;
    a checkpoint file inside a run folder is checked against that folder's log too."""
    if source.is_dir():
        run = RunFolder(source)
        if not run.finished:
            raise UserError(f"{source} holds no finished pretraining (no summary.json saying so)")
        path = source / run.summary().get("final_checkpoint", "checkpoint-last.pth")
        return path, run.verify(path)
    if not source.is_file():
        raise UserError(f"{source} does not exist")
    if (source.parent / "log.jsonl").is_file():
        return source, RunFolder(source.parent).verify(source)
    return source, sha256_file(source)


def export_checkpoint(source: Path, zoo: Path, results_dir: str | None = None, dataset: str | None = None,
                      method: str | None = None) -> Path:  # fmt: skip
    """Copy a checkpoint into the zoo under its content's name and write its metafile; the metafile.
    Exporting the same checkpoint again refreshes the metafile (the records found since)."""
    path, sha = resolve_source(source)
    info = describe_checkpoint(path, dataset, method)
    stem = export_name(info.method, info.epochs, info.dataset, sha)
    weights, metafile = zoo / f"{stem}.pth", zoo / f"{stem}.json"
    refuse_overwriting_inputs({"the metafile": metafile}, {"the checkpoint": path})
    if not (weights.is_file() and sha256_file(weights, MAX_CHECKPOINT_BYTES, "checkpoint") == sha):
        refuse_overwriting_inputs({"the exported checkpoint": weights}, {"the checkpoint": path})
        write_bytes(weights, read_regular(path, MAX_CHECKPOINT_BYTES, "checkpoint"))
    commit, dirty = git_state()
    results = [{"Task": r["protocol"], "Dataset": r["dataset"], "Setting": r["setting"], "Seed": r["seed"],
                "Metrics": {"Top 1 Accuracy (best epoch)": r["top1"], "Top 1 Accuracy (final epoch)": r["top1_final"]},
                "Record": r["record"]} for r in evaluations(ResultsStore(results_dir), sha)]  # fmt: skip
    meta = {
        "Name": stem,
        "Method": info.method,
        "Encoder": info.encoder,
        "Weights": weights.name,
        "sha256": sha,
        "Config": info.config,
        "Metadata": {"Training Data": info.dataset, "Epochs": info.epochs, "Parameters (encoder)": info.parameters},
        "Results": results,
        "Source": str(path.resolve()),
        "Exported": {
            "time": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
            "suite_version": __version__,
            "git_commit": commit,
            "git_dirty": dirty,
        },  # fmt: skip
    }
    write_json(metafile, meta)
    return metafile
