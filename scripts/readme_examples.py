"""The README's examples, written by a program, never typed: ``python scripts/readme_examples.py`` (``nox -s
readme``) rewrites the README's marked blocks, each between ``<!-- readme-examples:NAME -->`` and
``<!-- /readme-examples:NAME -->``.

* ``tables``: ``results/*.md`` and ``results/summary.csv`` rendered again from the committed records
  (``results/records``: nothing is run), and the README's excerpt of ``results/linear.md``: its captions, the
  published rows named in ``EXCERPT_ROWS``, every measured row and the paired differences, line for line.
* ``quickstart``: the quick start as a newcomer runs it, for real: in a scratch clone (a copy of the committed
  results store, a fresh HOME, so the synthetic stand-in is generated there), ``mamp-bench run --method mamp
  --protocol linear``, ``mamp-bench export-checkpoint`` of its pretraining, ``mamp-bench zoo`` and ``mamp-bench
  plot``. The zoo's listing goes into the README, the loss and embedding figures into ``docs/figures/``, each
  named in the block with the sha256 of the checkpoint they come from and their own.

``--only tables`` skips the run (seconds instead of minutes). ``tests/test_readme_examples.py`` checks that
every block is what this script writes from the committed results (``expected_zoo`` is the listing a quick
start gives, computed from them). Run it after regenerating the records (``nox -s reproduce``).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
README = REPO / "README.md"
FIGURES = REPO / "docs" / "figures"
#: the published rows the README's excerpt of results/linear.md keeps (the rest are cut)
EXCERPT_ROWS = ("MAMP (ICCV 2023)", "MAMP-README-ckpt (ICCV 2023 code)", "AMR (CVPR 2026)")
#: the quick start's figures shown in the README: (what ``mamp-bench plot`` writes, the name in docs/figures)
QUICKSTART_FIGURES = (("pretrain_loss.png", "quickstart_loss.png"), ("embedding.png", "quickstart_embedding.png"))
QUICKSTART = ["run", "--method", "mamp", "--protocol", "linear"]
CUT = "(...)"


def block(text: str, name: str) -> str:
    """The body of a marked block of ``text``."""
    match = re.search(rf"<!-- readme-examples:{name} -->\n(.*?)<!-- /readme-examples:{name} -->", text, re.S)
    if match is None:
        raise SystemExit(f"README.md has no block readme-examples:{name}")
    return match.group(1)


def replace_block(text: str, name: str, body: str) -> str:
    start, end = f"<!-- readme-examples:{name} -->\n", f"<!-- /readme-examples:{name} -->"
    before = text.index(start) + len(start)
    return text[:before] + body + text[text.index(end, before) :]


# -- tables: from the committed records, nothing run ------------------------------------------------------


def write_tables(results: Path) -> list[Path]:
    """results/*.md and summary.csv, rendered from the records of ``results`` (what ``reproduce`` writes last)."""
    from mamp_bench.results.export import write_tables as render_tables
    from mamp_bench.results.frame import load_checked

    checked = load_checked(results)
    scales = sorted(set(checked.frame["scale"].dropna()))
    if scales != ["smoke"]:
        raise SystemExit(f"the committed store holds records at the scales {scales}; the tables are the smoke ones")
    return render_tables(checked.frame, results, "smoke", checked.left_out)


def linear_excerpt(linear_md: str) -> str:
    """The README's excerpt of results/linear.md: each table's caption (the metric's gloss cut) and header, the
    published rows of ``EXCERPT_ROWS``, every measured row and the paired differences, each line as the file
    has it; what is cut is marked ``(...)``."""
    out, cut = [], False
    for line in linear_md.splitlines():
        if _kept(line):
            if cut and out[-1:] != [CUT]:
                out.append(CUT)
            if out and line.startswith(("`linear`", "Synthetic stand-in data", "Paired differences")):
                out.append("")
            out.append(re.sub(r" \(the maximum over epochs[^)]*\)", f" {CUT}", line))
            cut = False
        elif line.strip() and not line.startswith("<!--"):
            cut = True
    return "```\n" + "\n".join(out) + "\n```\n"


def _kept(line: str) -> bool:
    if line.startswith(("`linear`", "Synthetic stand-in data", "Paired differences", "|---", "| method", "| row")):
        return True
    if not line.startswith("| "):
        return False
    label = line.split("|")[1].strip()
    return "[^" not in label or any(label.startswith(name + "[^") for name in EXCERPT_ROWS)  # measured, or chosen


# -- the quick start, run for real ------------------------------------------------------------------------


def mamp_bench(args: list[str], clone: Path, home: Path) -> str:
    """``mamp-bench ARGS`` in the scratch clone with a fresh HOME (its own cache); its output."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MAMP_BENCH_") and k != "XDG_CACHE_HOME"}
    env["HOME"] = str(home)
    done = subprocess.run([sys.executable, "-m", "mamp_bench", *args], cwd=clone, env=env, capture_output=True,
                          text=True)  # fmt: skip
    if done.returncode:
        raise SystemExit(f"mamp-bench {' '.join(args)} failed:\n{done.stderr[-3000:]}")
    return done.stdout


def quick_start(scratch: Path) -> dict:
    """The quick start in a scratch clone; what the README shows of it."""
    import json

    clone, home = scratch / "clone", scratch / "home"
    shutil.copytree(REPO / "results", clone / "results")
    mamp_bench([*QUICKSTART, "--quiet"], clone, home)
    (record_file,) = [p for p in (clone / "runs" / "linear").glob("*/record.json")]
    record = json.loads(record_file.read_text())
    pretraining = record["encoder"]["pretrain_run"]
    mamp_bench(["export-checkpoint", pretraining], clone, home)
    zoo = mamp_bench(["zoo"], clone, home)
    mamp_bench(["plot"], clone, home)
    return {"record": record, "pretraining": pretraining, "zoo": zoo, "figures": clone / "runs" / "figures"}


def zoo_block(pretraining: str, listing: str) -> str:
    return f"```\n$ mamp-bench export-checkpoint {pretraining}\n$ mamp-bench zoo\n{listing}```\n"


def figures_block(sha256: str, names: list[str]) -> str:
    digests = ", ".join(f"{name} {_sha256(FIGURES / name)[:12]}" for name in names)
    images = "".join(f"![{_alt(name)}](docs/figures/{name})\n" for name in names)
    return (f"<!-- drawn by scripts/readme_examples.py from the quick start's checkpoint {sha256}; "
            f"{digests} -->\n{images}")  # fmt: skip


def _alt(name: str) -> str:
    return {
        "quickstart_loss.png": "The quick start's pretraining loss",
        "quickstart_embedding.png": "t-SNE of the quick start's encoder features",
    }.get(name, name)


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def expected_zoo(results: Path, sha256: str, quick_start_record: dict) -> str:
    """The listing ``mamp-bench zoo`` gives after the quick start and its export in a clone of ``results``, when
    the quick start's checkpoint has ``sha256``: the official checkpoints, then the export with every committed
    record that evaluated that checkpoint and the quick start's own record (which replaces the committed record
    of the same job; the two give the same predictions on the machine and software that wrote them)."""
    from mamp_bench.registry import METHODS
    from mamp_bench.results.store import ResultsStore
    from mamp_bench.results.zoo import (
        ZooEntry,
        evaluation,
        evaluation_order,
        evaluations,
        export_name,
        official_entries,
        render_zoo,
    )

    store = ResultsStore(results)
    found = [e for e in evaluations(store, sha256) if e["record"] != str(store.path_for(quick_start_record))]
    found = sorted([*found, evaluation(store, quick_start_record)], key=evaluation_order)
    pretrain = quick_start_record["encoder"]["pretrain_config"]
    method, dataset, epochs = pretrain["method"], pretrain["dataset"], pretrain["pretrain"]["epochs"]
    name = export_name(method, epochs, dataset, sha256)
    export = ZooEntry("export", name, method, dataset, epochs, sha256, "", found, METHODS.get(method).encoder_name)
    return render_zoo([*official_entries(), export])


def quick_start_record(results: Path) -> dict:
    """The committed record of the quick start's job (``mamp-bench run --method mamp --protocol linear``)."""
    import json

    from mamp_bench.plan import Options, Request, resolve
    from mamp_bench.results.store import ResultsStore

    resolved = resolve(Request("mamp", "linear"), Options())
    request = resolved.request
    path = ResultsStore(results).path_for({"protocol": resolved.protocol.name, "dataset": resolved.target.name,
                                           "method": request.method, "config_hash": resolved.digest,
                                           "seed": request.seed})  # fmt: skip
    return json.loads(path.read_text())


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", choices=["tables", "quickstart"], help="one part (default: both)")
    args = parser.parse_args(argv)
    text = README.read_text()
    if args.only in (None, "tables"):
        for path in write_tables(REPO / "results"):
            print(f"wrote {path.relative_to(REPO)}")
        text = replace_block(text, "linear", linear_excerpt((REPO / "results" / "linear.md").read_text()))
    if args.only in (None, "quickstart"):
        with tempfile.TemporaryDirectory() as scratch:
            run = quick_start(Path(scratch))
            sha = run["record"]["encoder"]["checkpoint_sha256"]
            committed = quick_start_record(REPO / "results")
            if run["zoo"] != expected_zoo(REPO / "results", sha, committed):
                print("warning: the zoo lists other results than the committed records give (the quick start's "
                      "predictions differ from its committed record's: another processor or other software); the "
                      "README check fails until the records are regenerated here", file=sys.stderr)  # fmt: skip
            names = []
            for written, name in QUICKSTART_FIGURES:
                shutil.copyfile(run["figures"] / written, FIGURES / name)
                names.append(name)
                print(f"wrote {(FIGURES / name).relative_to(REPO)}")
            text = replace_block(text, "zoo", zoo_block(run["pretraining"], run["zoo"]))
            text = replace_block(text, "quickstart-figures", figures_block(sha, names))
    README.write_text(text)
    print("wrote README.md")


if __name__ == "__main__":
    main()
