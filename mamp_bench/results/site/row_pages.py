"""The page of a measured cell (a row of a table in one column): the records of its seeds in full.

What reproduces it (the command of each seed), what produced it (configuration, commit and whether the code
differed from it, the data's fingerprint, the checkpoint's sha256), the numbers of each seed, the per-epoch
curves, the confusion matrix and per-class accuracy from the saved predictions, the verification, and links
to the record, its predictions and its log (copied into the site)."""

from __future__ import annotations

import csv
import io
import json
import math
import shlex
from typing import Any

import numpy as np

from mamp_bench.errors import DataFormatError
from mamp_bench.fileio import read_regular
from mamp_bench.registry import PROTOCOLS
from mamp_bench.results.evidence import MAX_LOG_CSV_BYTES, custom_settings
from mamp_bench.results.render import cell_text
from mamp_bench.results.site.contents import Measured, RowPage, Site, table_page
from mamp_bench.results.site.html import definitions, el, esc, link, prose, slug, table
from mamp_bench.results.site.layout import HTML, section_title, wrap
from mamp_bench.results.site.svg import Series, bar_chart, confusion_chart, line_chart
from mamp_bench.results.store import RECORD_FILES
from mamp_bench.results.tables import METRIC_NAMES, fmt_number

#: how many of the most frequent confusions a page lists in words
TOP_CONFUSIONS = 10


def reproduce_command(record: dict[str, Any]) -> str:
    """The ``mamp-bench run`` command that runs a record's job again: the same method, protocol, dataset, scale,
    seed, pretraining seed, transfer source, checkpoint and ``--set`` values (its configuration hash follows from
    these); ``--data-root DATA`` for real data (DATA: the folder of the prepared datasets)."""
    encoder = record.get("encoder") if isinstance(record.get("encoder"), dict) else {}
    seed = record["seed"]
    args = [
        "mamp-bench",
        "run",
        "--method",
        record["method"],
        "--protocol",
        record["protocol"],
        "--dataset",
        record["dataset"],
        "--scale",
        str(record.get("scale")),
        "--seed",
        str(seed),
    ]
    if record.get("source_dataset"):
        args += ["--source", str(record["source_dataset"])]
    if encoder.get("kind") == "pretrained" and encoder.get("pretrain_seed") not in (None, seed):
        args += ["--pretrain-seed", str(encoder["pretrain_seed"])]
    if encoder.get("kind") == "checkpoint":
        args += ["--checkpoint", str(encoder.get("checkpoint") or "CHECKPOINT")]
    for key, value in sorted((record.get("overrides") or {}).items()):
        args += ["--set", f"{key}={value}"]
    if not record.get("synthetic"):
        args += ["--data-root", "DATA"]
    return shlex.join(args)


def row_page(site: Site, page: RowPage) -> str:
    root = "../" * page.path.count("/")
    t, row = page.table, page.row
    label = t.column_labels[page.column]
    content = el("h1", f"{esc(row.label)} · {esc(label)}")
    content += el("p", prose(t.caption()), class_=f"caption banner {t.kind}")
    content += _facts(site, page, root)
    content += el("h2", "Seeds") + _seeds(site, page, root)
    content += el("h2", "Reproduce") + _commands(page)
    content += el("h2", "What produced it") + _provenance(page)
    content += el("h2", "Per-epoch curves") + _curves(page)
    content += el("h2", "Confusion matrix") + _confusion(page)
    content += el("h2", "Per-class accuracy") + _per_class(page)
    content += el("h2", "Verification") + _verification(page)
    content += el("h2", "Configuration") + _configuration(page)
    title = f"{row.label} · {label} · {t.name}"
    return wrap(site, title, content, page.path)


def _facts(site: Site, page: RowPage, root: str) -> str:
    t, row, cell = page.table, page.row, page.cell
    first = page.records[0].record
    protocol = first["protocol"]
    described = PROTOCOLS.get(protocol).description if protocol in PROTOCOLS else ""
    column = t.columns[page.column]
    items = [
        ("table", link(f"{root}{table_page(t.name)}#{t.name}-{t.kind}", f"{t.name}: {section_title(t.kind).lower()}")),
        ("column", link(f"{root}columns/{t.name}/{slug(column.label)}.html", t.column_labels[page.column])),
        (
            f"top-1, {METRIC_NAMES[t.metric]}",
            el("strong", cell_text(cell, HTML)) + " (mean ± std over seeds, number of seeds)",
        ),
    ]
    if row.gaps and row.gaps[page.column] is not None:
        items.append(("Δ vs reported", f"{row.gaps[page.column]:+.1f}"))
    items += [
        ("protocol", f"{esc(protocol)}" + (f": {esc(described)}" if described else "")),
        ("method", esc(first["method"])),
        ("dataset", esc(_joined(m.record.get("dataset") for m in page.records))),
    ]
    if first.get("source_dataset"):
        items.append(("pretrained on", esc(_joined(m.record.get("source_dataset") for m in page.records))))
    items += [
        ("scale", esc(_joined(m.record.get("scale") for m in page.records))),
        ("fidelity", esc(_joined(m.record.get("fidelity", "clean") for m in page.records))),
        ("row hash", el("code", esc(first.get("row_hash") or first["config_hash"]))),
    ]
    if first.get("setting"):
        items.append(("setting", el("code", esc(json.dumps(first["setting"], sort_keys=True)))))
    overrides = first.get("overrides") or {}
    if overrides:
        items.append(("settings given (--set)", esc(", ".join(f"{k}={v}" for k, v in sorted(overrides.items())))))
    custom = custom_settings(first)
    if custom:
        items.append(("differs from the recipe", esc(", ".join(f"{k}={v}" for k, v in custom.items()))))
    return definitions(items)


def _joined(values) -> str:
    return ", ".join(sorted({str(v) for v in values if v is not None})) or "—"


def _seeds(site: Site, page: RowPage, root: str) -> str:
    metric = page.table.metric
    shown = {
        "top1_best": "top-1 best",
        "top1_final": "top-1 final",
        "top1_last5": "top-1 last 5",
        "top5_final": "top-5 final",
    }
    headers = [("seed", {"data_numeric": True}), ("record", {}), ("beside it", {})]
    headers += [
        (esc(label) + (" (the table's)" if key == metric else ""), {"data_numeric": True})
        for key, label in shown.items()
    ]
    headers += [("best epoch", {}), ("epochs", {}), ("test clips", {})]
    rows = []
    for m in page.records:
        metrics = m.record.get("metrics") or {}
        files = [link(root + m.beside(k), k) for k in RECORD_FILES if m.beside(k)]
        cells = [
            el("th", esc(m.record["seed"]), scope="row", data_sort=m.record["seed"]),
            el("td", el("code", link(root + m.rel, m.name))),
            el("td", " · ".join(files)),
        ]
        cells += [
            el(
                "td",
                fmt_number(metrics.get(k), ".2f"),
                data_sort=metrics.get(k),
                class_="metric" if k == metric else None,
            )
            for k in shown
        ]
        cells += [el("td", esc(metrics.get(k, "—"))) for k in ("best_epoch", "epochs_run", "test_clips")]
        rows.append(el("tr", "".join(cells), data_record=m.name))
    note = el(
        "p",
        "Each record (JSON) sits in the site in the results store's own layout, with its per-clip "
        "predictions and per-epoch log beside it; the best epoch as the record numbers it.",
        class_="note",
    )
    return table(headers, rows, class_="seeds") + note


def _commands(page: RowPage) -> str:
    commands = "\n".join(reproduce_command(m.record) for m in page.records)
    commits = _joined((m.record.get("environment") or {}).get("git_commit") for m in page.records)
    text = (
        f"From a checkout of the suite at commit {el('code', esc(commits))}, each seed's job runs again with "
        "the command below (a finished run folder of the same job is reused: add <code>--force</code> to run it "
        "again); <code>mamp-bench verify</code> then checks the record it writes."
    )
    if any(not m.record.get("synthetic") for m in page.records):
        text += " <code>DATA</code>: the folder of the prepared datasets (<code>mamp-bench prepare</code>)."
    return el("p", text) + el("pre", el("code", esc(commands)), class_="commands")


def provenance(record: dict[str, Any]) -> dict[str, str]:
    """What produced a record, as the page shows it: code, software, machine, data, checkpoint, time."""
    env = record.get("environment") if isinstance(record.get("environment"), dict) else {}
    data = record.get("data") if isinstance(record.get("data"), dict) else {}
    encoder = record.get("encoder") if isinstance(record.get("encoder"), dict) else {}
    dirty = env.get("git_dirty")
    return {
        "git commit": str(env.get("git_commit") or "unknown"),
        "code differed from the commit (dirty)": "unknown" if dirty is None else ("yes" if dirty else "no"),
        "suite version": str(env.get("suite_version") or record.get("suite_version") or "unknown"),
        "torch": str(env.get("torch") or "unknown"),
        "device": str(env.get("device_name") or env.get("device") or "unknown"),
        "processes": str(env.get("processes", "unknown")),
        "data fingerprint (evaluated)": _fingerprint(data.get("evaluated")),
        "data fingerprint (pretrained on)": _fingerprint(data.get("pretrained_on")),
        "checkpoint sha256": str(encoder.get("checkpoint_sha256") or "none: an untrained encoder"),
        "created": str(record.get("created") or "unknown"),
        "seconds": str(record.get("wall_seconds", "unknown")),
    }


#: provenance entries shown in code type
_CODE = ("git commit", "data fingerprint (evaluated)", "data fingerprint (pretrained on)", "checkpoint sha256")


def _provenance(page: RowPage) -> str:
    """Each entry once when every seed has the same value, else one line per seed."""
    found = [(m.record["seed"], provenance(m.record)) for m in page.records]
    items = []
    for key in found[0][1]:
        values = [(seed, entries[key]) for seed, entries in found]

        def shown(value: str, key: str = key) -> str:
            return el("code", esc(value)) if key in _CODE else esc(value)

        if len({v for _, v in values}) == 1:
            every = " (every seed)" if len(values) > 1 else ""
            items.append((key, shown(values[0][1]) + every))
        else:
            items.append((key, "<br>".join(f"seed {esc(seed)}: {shown(value)}" for seed, value in values)))
    return definitions(items)


def _fingerprint(entry: Any) -> str:
    return str(entry.get("fingerprint") or "none recorded") if isinstance(entry, dict) else "none (no such data)"


# ---------------------------------------------------------------------------------------------------------
# curves, confusion, per class


def epoch_log(m: Measured) -> list[dict[str, str]]:
    """The rows of a record's per-epoch log (verified with the record), or [] when it has none."""
    name = (m.record.get("log") or {}).get("file")
    if not isinstance(name, str):
        return []
    try:
        text = read_regular(m.source.with_name(name), MAX_LOG_CSV_BYTES, "per-epoch log").decode("utf-8")
    except (DataFormatError, UnicodeDecodeError):
        return []
    return list(csv.DictReader(io.StringIO(text)))


def _numbers(rows: list[dict[str, str]], key: str) -> tuple[list[float], list[float]]:
    """(epochs, values) of the log rows that have ``key``; the epoch as the log numbers it."""
    xs, ys = [], []
    for position, row in enumerate(rows):
        try:
            value = float(row.get(key) or "nan")
            epoch = float(row.get("epoch") or position)
        except ValueError:
            continue
        if math.isfinite(value):
            xs.append(epoch)
            ys.append(value)
    return xs, ys


def _curves(page: RowPage) -> str:
    logs = [(m, epoch_log(m)) for m in page.records]
    out = []
    for key, title, ylabel in (
        ("top1", "Test top-1 after each evaluated epoch", "test top-1 (%)"),
        ("loss", "Training loss per epoch", "training loss"),
    ):
        series = [Series(f"seed {m.record['seed']}", *_numbers(rows, key)) for m, rows in logs]
        series = [s for s in series if len(s.x) >= 2]
        if series:
            out.append(
                el("h3", esc(title))
                + line_chart(series, title, "epoch (as the per-epoch log numbers it)", ylabel)
                + _curve_numbers(series, ylabel)
            )
    if not out:
        return el("p", "One evaluation, no training: no curve (the numbers are in the seeds' table).")
    return "".join(out)


def _curve_numbers(series: list[Series], ylabel: str) -> str:
    epochs = sorted({x for s in series for x in s.x})
    by_seed = [dict(zip(s.x, s.y, strict=True)) for s in series]
    headers = [("epoch", {"data_numeric": True})] + [(esc(s.label), {"data_numeric": True}) for s in series]
    rows = [
        el("tr", el("th", f"{e:g}", scope="row") + "".join(el("td", fmt_number(v.get(e), ".4g")) for v in by_seed))
        for e in epochs
    ]
    return el("details", el("summary", f"The numbers ({esc(ylabel)})") + table(headers, rows, sortable=False))


def _confusion(page: RowPage) -> str:
    predictions = [m.evidence.predictions for m in page.records if m.evidence.predictions is not None]
    if not predictions or len({p.classes for p in predictions}) != 1:
        return el("p", "No saved predictions to draw it from.")
    confusion = np.sum([p.confusion() for p in predictions], axis=0)
    seeds = len(predictions)
    title = (
        f"Confusion matrix after the final epoch, summed over {seeds} seed(s): rows are the true class, columns "
        "the prediction, each row shaded by its share of the row's clips"
    )
    off = confusion.copy()
    np.fill_diagonal(off, 0)
    pairs = sorted(((int(off[i, j]), i, j) for i, j in zip(*np.nonzero(off), strict=True)), reverse=True)
    listed = "".join(el("li", f"class {i} taken for class {j}: {n} clip(s)") for n, i, j in pairs[:TOP_CONFUSIONS])
    words = (
        el("p", f"The {min(TOP_CONFUSIONS, len(pairs))} most frequent confusions:") + el("ol", listed) if pairs else ""
    )
    return el("figure", confusion_chart(confusion, title) + el("figcaption", esc(title)), class_="confusion") + words


def _per_class(page: RowPage) -> str:
    per_seed = [(m.record["seed"], (m.record.get("metrics") or {}).get("per_class_final")) for m in page.records]
    per_seed = [(s, v) for s, v in per_seed if isinstance(v, list)]
    if not per_seed:
        return el("p", "The records do not carry per-class accuracies.")
    classes = max(len(v) for _, v in per_seed)
    means = []
    for k in range(classes):
        values = [v[k] for _, v in per_seed if k < len(v) and v[k] is not None]
        means.append(float(np.mean(values)) if values else None)
    title = f"Accuracy of each class after the final epoch, mean over {len(per_seed)} seed(s)"
    headers = [("class", {"data_numeric": True}), ("mean", {"data_numeric": True})]
    headers += [(f"seed {s}", {"data_numeric": True}) for s, _ in per_seed]
    rows = [
        el(
            "tr",
            el("th", str(k), scope="row")
            + el("td", fmt_number(means[k], ".1f"), data_sort=means[k])
            + "".join(el("td", fmt_number(v[k] if k < len(v) else None, ".1f")) for _, v in per_seed),
        )
        for k in range(classes)
    ]
    return el("figure", bar_chart(means, title, "top-1 (%)") + el("figcaption", esc(title))) + el(
        "details", el("summary", "The numbers") + table(headers, rows)
    )


def _verification(page: RowPage) -> str:
    items = []
    for m in page.records:
        e = m.evidence
        status = "verifies" if e.ok else "does not verify: " + "; ".join(e.problems)
        data = f"data: {e.data}" + (f" ({e.data_reason})" if e.data_reason else "")
        notes = "".join(el("li", esc(n)) for n in e.notes)
        items.append(
            el(
                "li",
                f"seed {esc(m.record['seed'])} ({el('code', esc(m.name))}): {el('strong', esc(status))}; "
                f"{esc(data)}" + (el("ul", notes) if notes else ""),
            )
        )
    text = (
        "Checked when this site was generated, as <code>mamp-bench verify</code> checks it: its predictions and "
        "per-epoch log are the files it names, every accuracy is what its predictions give, its hashes are "
        "those of the configuration it carries, and its data is what it says."
    )
    return el("p", text) + el("ul", "".join(items), class_="verification")


def _configuration(page: RowPage) -> str:
    out = []
    for m in page.records:
        r = m.record
        shown = {k: r.get(k) for k in ("setting", "overrides", "protocol_config", "encoder")}
        out.append(
            el(
                "details",
                el("summary", f"seed {esc(r['seed'])}: the configuration the record carries")
                + el("pre", el("code", esc(json.dumps(shown, indent=2, sort_keys=True, default=str)))),
            )
        )
    return "".join(out)
