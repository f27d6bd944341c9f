"""One-shot GPU benchmark: what a paper-scale pretraining, and the whole paper plan, cost here.

``python -m benchmarks.gpu --device cuda`` (also ``nox -s bench -- --device cuda``) prints, in
under 8 minutes on one GPU, for the NTU-60 and NTU-120 presets of the paper model at the paper's
batch of 128:

- pretraining clips/s through the engine's own step (``PretrainTask``: fused AdamW, the device's
  micro-batch default) in fp32, TF32 and bf16 autocast, with and without skipped absent persons
  (``method.skip_empty_persons``), eager and with ``torch.compile``;
- utilisation: the step's matrix-multiply FLOPs (``mamp_bench.engine.flops``) per second over the
  dense matmul rate measured here in the same precision; peak memory;
- the DataLoader's clips/s with the training transform at the engine's default worker count, and
  with the batched transform on the device (``batched_transform=true``), against the step;
- the frozen-encoder and fine-tuning clips/s that the plan's protocol jobs are costed with;
- the GCN family's pretraining step (SkeletonCLR, AimCLR on ST-GCN, ``benchmarks.pretrain_step``'s ST-GCN presets:
  the method's views, forward, backward, SGD) at their batch of 128 in fp32 and TF32, with their utilisation and
  the projected 300-epoch pretraining on NTU-60 xsub;
- the projected wall time of a 400-epoch pretraining on NTU-60 (40,091 clips) and NTU-120 (63,026),
  and GPU-hours of the whole paper plan (``mamp-bench reproduce --scale paper`` jobs, costed below).

It checks what the machine has and says what it skips and why: no CUDA device (it then runs on the
CPU, batch 8), no TF32 or native bf16, ``torch.compile`` failing (its error), a configuration out of
memory, the time budget (``--budget-s``, 7 minutes from the start by default: the compiled
configurations run last, in order of interest, each stopped when the budget ends).
``--quick`` is the CI-sized form: a tiny model, batch 2, one timed step (``tests/test_gpu_bench.py``
runs it on the CPU); its projections only exercise the code.

Plan cost: each pretraining of the plan once (epochs x clips / the eager clips/s of the preset
with its decoder depth: 3 as NTU-60, 5 as NTU-120 and PKU; a GCN method's at its own measured clips/s),
plus each protocol job's own
``estimate_seconds`` with the measured "encode" and "train" clips/s. ``--json FILE`` writes every
figure, and the rates in the planner's format: ``mamp-bench reproduce --gpu-benchmark FILE`` costs the
plan with them (``encoder_gflop_per_clip`` turns the protocol clips/s into FLOP/s).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from benchmarks import data_loading, protocols
from benchmarks.common import machine, matmul_peak
from benchmarks.pretrain_step import benchmark_input

PRESETS = ("ntu60", "ntu120")
PRECISIONS = ("fp32", "tf32", "bf16")
TRAIN_CLIPS = {"ntu60": 40091, "ntu120": 63026}  # xsub training clips
EPOCHS, PAPER_BATCH = 400, 128
#: the GCN family's methods (benchmarks.pretrain_step presets), their 300 epochs of batch 128 (the pretext configs)
GCN_METHODS, GCN_EPOCHS = ("skeletonclr", "aimclr"), 300
#: the CI-sized model of --quick (method overrides)
QUICK_MODEL = {"encoder.dim": "32", "encoder.depth": "1", "encoder.heads": "2", "decoder_dim": "32"}
#: the CI-sized encoder of the protocol rates under --quick
QUICK_ENCODER = {"dim": 32, "depth": 1, "heads": 2, "frames": 40}
#: compiled configurations in the order they are worth the time: (preset, precision, skip)
COMPILE_ORDER = [(p, precision, skip) for precision in ("bf16", "tf32", "fp32") for p in PRESETS
                 for skip in (True, False)]  # fmt: skip


@dataclass
class Sizes:
    batch: int
    steps: int  # timed, after the warm-up steps
    warmup: int
    window: int
    quick: bool

    @classmethod
    def for_device(cls, device_type: str, quick: bool) -> Sizes:
        if quick:
            return cls(batch=2, steps=1, warmup=1, window=40, quick=True)
        if device_type == "cuda":
            return cls(batch=PAPER_BATCH, steps=10, warmup=3, window=120, quick=False)
        return cls(batch=8, steps=2, warmup=1, window=120, quick=False)


@dataclass
class Machine:
    device: str
    name: str
    skipped: dict[str, str] = field(default_factory=dict)  # precision or "compile" -> why it is skipped

    def has(self, what: str) -> bool:
        return what not in self.skipped


def probe(requested: str, compile_check: bool) -> Machine:
    """What this machine offers; every missing piece goes into ``skipped`` with its reason."""
    import torch

    from mamp_bench.engine.hardware import bf16_support

    use_cuda = requested != "cpu" and torch.cuda.is_available()
    if requested.startswith("cuda") and not use_cuda:
        build = f"CUDA {torch.version.cuda}" if torch.version.cuda else "a CPU-only build"
        print(f"note: --device {requested} asked, but no CUDA device is visible (torch {torch.__version__}, "
              f"{build}): measuring on the CPU instead")  # fmt: skip
    device = torch.device("cuda" if use_cuda else "cpu")
    name = torch.cuda.get_device_name(device) if use_cuda else "CPU"
    found = Machine(str(device), name)
    if not use_cuda:
        found.skipped["tf32"] = "TF32 is a GPU (compute capability >= 8.0) format"
    elif torch.cuda.get_device_capability(device) < (8, 0):
        found.skipped["tf32"] = f"compute capability {torch.cuda.get_device_capability(device)} < (8, 0)"
    native, why = bf16_support(device)
    if not native:
        found.skipped["bf16"] = why
    reason = compile_failure(str(device)) if compile_check else "--no-compile"
    if reason:
        found.skipped["compile"] = reason
    return found


def compile_failure(device: str, timeout: float = 180) -> str | None:
    """None if ``torch.compile`` compiles and runs a small function with its gradient on ``device``
    (in a separate process, so a crash or hang costs nothing), else why not."""
    code = (
        "import torch; f = torch.compile(lambda x: torch.nn.functional.gelu(x @ x).sum()); "
        f"x = torch.randn(64, 64, device='{device}', requires_grad=True); f(x).backward(); print('ok')"
    )
    try:
        result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return f"a small torch.compile test did not finish in {timeout:.0f} s"
    if result.returncode == 0 and result.stdout.strip().endswith("ok"):
        return None
    lines = (result.stderr or result.stdout).strip().splitlines() or [f"exit status {result.returncode}"]
    return f"torch.compile failed: {lines[-1][:200]}"


@contextlib.contextmanager
def precision_mode(precision: str):
    """fp32: exact fp32 matrix products; tf32: TF32 tensor cores for fp32 products; bf16: exact
    fp32 outside autocast (autocast itself is the engine's ``amp=bf16``)."""
    import torch

    saved = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = precision == "tf32"
    try:
        yield
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = saved


def measure_peaks(found: Machine, sizes: Sizes) -> dict[str, dict]:
    """The dense matmul rate in every available precision (GFLOP/s, median of 5, best size)."""
    square = (256,) if sizes.quick else None
    peaks = {}
    for precision in PRECISIONS:
        if found.has(precision):
            with precision_mode(precision):
                dtype = "bfloat16" if precision == "bf16" else "float32"
                peaks[precision] = matmul_peak(found.device, dtype, repeats=3 if sizes.quick else 5, sizes=square)
    return peaks


def pretrain_job(preset: str, precision: str, skip: bool, compiled: bool, sizes: Sizes):
    """The engine's job for one configuration: the paper recipe with these settings."""
    from mamp_bench.engine.pretrain import PretrainConfig, PretrainJob
    from mamp_bench.registry import METHODS

    overrides = {"skip_empty_persons": str(skip).lower(), **(QUICK_MODEL if sizes.quick else {})}
    method_config = METHODS.get("mamp").resolve_config(preset, "paper", overrides, window=sizes.window)
    config = PretrainConfig(amp="bf16" if precision == "bf16" else "none", compile=compiled, window=sizes.window)
    return PretrainJob("mamp", f"{preset}-xsub", config, method_config)


def step_rate(device: str, preset: str, precision: str, skip: bool, compiled: bool, sizes: Sizes) -> dict:
    """clips/s, utilisation inputs and peak memory of the engine's pretraining step."""
    import torch

    from mamp_bench.engine.distributed import Runtime
    from mamp_bench.engine.flops import masked_pretrain_flops
    from mamp_bench.engine.pretrain import PretrainTask
    from mamp_bench.registry import METHODS

    dev = torch.device(device)
    job = pretrain_job(preset, precision, skip, compiled, sizes)
    torch.manual_seed(0)
    task = PretrainTask(job, METHODS.get("mamp")(job.method_config).to(dev), Runtime(dev))
    x, seeds = benchmark_input(sizes.batch, sizes.window)
    sequences = int(x.flatten(1, 3).ne(0).any(dim=1).sum()) if skip else 2 * sizes.batch
    x = x.to(dev)
    if dev.type == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(dev)
    times = []
    with precision_mode(precision):
        for step in range(sizes.warmup + sizes.steps):  # warm-up: allocator, autotuning, compilation
            start = time.perf_counter()
            task.step(x, None, seeds)  # its loss.item() waits for the device
            if step >= sizes.warmup:
                times.append(time.perf_counter() - start)
    peak = (torch.cuda.max_memory_allocated(dev) if dev.type == "cuda"
            else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024) / 2**20  # fmt: skip
    median = statistics.median(times)
    return {"preset": preset, "precision": precision, "skip": skip, "compile": compiled, "batch": sizes.batch,
            "clips_per_s": sizes.batch / median, "low": sizes.batch / max(times), "high": sizes.batch / min(times),
            "gflop_per_step": masked_pretrain_flops(job.method_config, sequences)["total"] / 1e9,
            "peak_mib": peak}  # fmt: skip


def guarded(label: str, fn, *args):
    """``fn(*args)``, or a row saying why it could not run (out of memory, any error)."""
    try:
        return fn(*args)
    except Exception as exc:  # never crash: a failed configuration is reported and skipped
        import torch

        if torch.cuda.is_available():
            torch.cuda.empty_cache()
        return {"skipped": f"{label}: {type(exc).__name__}: {str(exc).splitlines()[0][:160] if str(exc) else ''}"}


def compiled_rate(found: Machine, preset: str, precision: str, skip: bool, sizes: Sizes, timeout: float) -> dict:
    """A compiled configuration in its own process (compilation can crash or hang)."""
    spec = json.dumps({"device": found.device, "preset": preset, "precision": precision, "skip": skip,
                       "sizes": asdict(sizes)})  # fmt: skip
    label = f"compiled {preset} {precision} skip={skip}"
    try:
        result = subprocess.run([sys.executable, "-m", "benchmarks.gpu", "--child", spec], capture_output=True,
                                text=True, timeout=timeout)  # fmt: skip
    except subprocess.TimeoutExpired:
        return {"skipped": f"{label}: not finished within {timeout:.0f} s"}
    lines = result.stdout.strip().splitlines()
    if result.returncode != 0 or not lines:
        error = (result.stderr.strip().splitlines() or ["no output"])[-1][:160]
        return {"skipped": f"{label}: exit status {result.returncode}: {error}"}
    return json.loads(lines[-1])


def measure_eager(found: Machine, sizes: Sizes, peaks: dict[str, dict]) -> list[dict]:
    """Every eager configuration, in this process."""
    if found.device == "cpu":
        print("peak MiB on a CPU: the process's RSS high-water mark so far (the configurations share the process)")
    print(f"{'preset':>7} {'prec.':>5} {'pers.':>5} {'mode':>7} {'clips/s median [min-max]':>24} {'util.':>7} "
          f"{'peak MiB':>9}")  # fmt: skip
    rows = []
    for preset in PRESETS:
        for precision in (p for p in PRECISIONS if found.has(p)):
            for skip in (False, True):
                rows.append(guarded(f"{preset} {precision}", step_rate, found.device, preset, precision, skip,
                                    False, sizes))  # fmt: skip
                print_step(rows[-1], peaks)
    return rows


def measure_compiled(found: Machine, sizes: Sizes, peaks: dict[str, dict], budget: float, started: float) -> list:
    """Compiled configurations in ``COMPILE_ORDER``, each in its own process, while the budget lasts."""
    rows = []
    for preset, precision, skip in (c for c in COMPILE_ORDER if found.has(c[1]) and found.has("compile")):
        left = budget - (time.perf_counter() - started)
        if left < 30:
            rows.append({"skipped": f"compiled {preset} {precision} skip={skip}: the --budget-s time is spent"})
        else:
            rows.append(compiled_rate(found, preset, precision, skip, sizes, timeout=left))
        print_step(rows[-1], peaks)
    return rows


def print_step(row: dict, peaks: dict[str, dict]) -> None:
    """One table line; adds the utilisation against the matmul rate of the row's precision."""
    if "skipped" in row:
        print(f"  skipped: {row['skipped']}")
        return
    flops_per_s = row["gflop_per_step"] * row["clips_per_s"] / row["batch"]
    row["utilisation"] = flops_per_s / peaks[row["precision"]]["gflops"]
    mode = "compile" if row["compile"] else "eager"
    rate = f"{row['clips_per_s']:.1f} [{row['low']:.1f}-{row['high']:.1f}]"
    print(f"{row['preset']:>7} {row['precision']:>5} {'skip' if row['skip'] else 'all':>5} {mode:>7} "
          f"{rate:>24} {row['utilisation']:>7.1%} {row['peak_mib']:>9.0f}")  # fmt: skip


def measure_loading(found: Machine, sizes: Sizes, data: str | None) -> dict[str, float]:
    """The training DataLoader at the engine's default worker count: per-sample transform in the
    loader, and the batched transform on the device (clips/s, median of 3)."""
    import torch

    from mamp_bench.engine.pretrain import default_workers

    workers = default_workers(torch.device(found.device))
    batches, batch = (3, 16) if sizes.quick else (20, PAPER_BATCH if found.device != "cpu" else 32)
    rates = {"workers": workers}
    for batched in (False, True):
        median, low, high = data_loading.loader_rate(workers, batch, batches, 3, batched, found.device, data)
        rates["batched" if batched else "per_sample"] = median
        kind = f"batched on {found.device}" if batched else "per sample in the loader"
        print(f"DataLoader, {workers} workers, batch {batch}, transform {kind}: {median:.0f} clips/s "
              f"[{low:.0f}-{high:.0f}]")  # fmt: skip
    return rates


def measure_protocol_rates(found: Machine, sizes: Sizes) -> dict[str, float]:
    """clips/s of a frozen-encoder forward ("encode", batch 256) and a fine-tuning step ("train",
    batch 48) of the paper encoder, eager, in the fastest fp32 mode available (TF32 if there)."""
    precision = "tf32" if found.has("tf32") else "fp32"
    encoder = QUICK_ENCODER if sizes.quick else None
    rates = {}
    for name, task, batch in (("encode", "evaluate", 256), ("train", "finetune-train", 48)):
        batch = 2 if sizes.quick else batch if found.device != "cpu" else 8
        with precision_mode(precision):
            row = protocols.measure(task, "suite", 3 if not sizes.quick else 1, found.device, batch, encoder)
        rates[name] = row["clips_per_s"]
        print(f"{task} ({precision}, batch {batch}): {row['clips_per_s']:.1f} clips/s "
              f"[{row['low']:.1f}-{row['high']:.1f}]")  # fmt: skip
    return rates


def measure_gcn_steps(found: Machine, sizes: Sizes, peaks: dict[str, dict]) -> list[dict]:
    """The GCN family's pretraining steps (fp32, and TF32 where available), in this process; their utilisation
    against the matmul rate of the same precision and their 300-epoch NTU-60 xsub projection."""
    from benchmarks import pretrain_step

    rows = []
    presets = ("gcn-smoke",) if sizes.quick else GCN_METHODS
    for preset in presets:
        for precision in (p for p in ("fp32", "tf32") if found.has(p)):
            with precision_mode(precision):
                row = guarded(f"{preset} {precision}", pretrain_step.measure_gcn, preset, "suite", sizes.batch,
                              sizes.steps, found.device, "none")  # fmt: skip
            if "skipped" in row:
                print(f"  skipped: {row['skipped']}")
                rows.append(row)
                continue
            row["precision"] = precision
            row["utilisation"] = row["gflops"] / peaks[precision]["gflops"]
            row["hours_300_epochs"] = GCN_EPOCHS * (TRAIN_CLIPS["ntu60"] // PAPER_BATCH) * PAPER_BATCH / \
                row["clips_per_s"] / 3600  # fmt: skip
            rows.append(row)
            print(f"{preset} pretraining step ({precision}, batch {sizes.batch}): {row['clips_per_s']:.1f} clips/s "
                  f"[{sizes.batch / row['max_s']:.1f}-{sizes.batch / row['min_s']:.1f}], {row['gflop_per_step']:.1f} "
                  f"GFLOP/step, utilisation {row['utilisation']:.1%}; 300 epochs on NTU-60 xsub: "
                  f"{row['hours_300_epochs']:.2f} h")  # fmt: skip
    return rows


def encoder_gflop_per_clip(sizes: Sizes) -> float:
    """GFLOP of a frozen forward pass of the protocol rates' encoder on one clip (two persons): with
    the "encode" and "train" clips/s, the effective FLOP/s the planner costs protocol jobs with
    (``mamp-bench reproduce --gpu-benchmark FILE``)."""
    from mamp_bench.engine.flops import encoder_flops
    from mamp_bench.models.transformer import EncoderConfig

    return 2 * encoder_flops(EncoderConfig(**(QUICK_ENCODER if sizes.quick else {}))) / 1e9


def pretraining_hours(preset: str, clips_per_s: float) -> float:
    """Wall hours of the paper's 400 epochs of whole batches of 128 (drop_last) at ``clips_per_s``."""
    return EPOCHS * (TRAIN_CLIPS[preset] // PAPER_BATCH) * PAPER_BATCH / clips_per_s / 3600


def describe(row: dict) -> str:
    persons = "absent persons skipped" if row["skip"] else "all persons"
    return f"{row['precision']}, {persons}, {'compiled' if row['compile'] else 'eager'}"


def report_projections(rows: list[dict]) -> dict[str, dict]:
    """Per preset: the suite's defaults (fp32, all persons, eager), the fastest configuration with
    the reference's loss (all persons), and the fastest overall; their 400-epoch wall time."""
    measured = [r for r in rows if "skipped" not in r]
    picks = {}
    for preset in PRESETS:
        mine = [r for r in measured if r["preset"] == preset]
        candidates = {
            "default": [r for r in mine if r["precision"] == "fp32" and not r["skip"] and not r["compile"]],
            "fastest, reference loss": [r for r in mine if not r["skip"]],
            "fastest": mine,
        }
        for label, group in candidates.items():
            if group:
                best = max(group, key=lambda r: r["clips_per_s"])
                hours = pretraining_hours(preset, best["clips_per_s"])
                picks[f"{preset} {label}"] = {**best, "hours_400_epochs": hours}
                print(f"400-epoch {preset} pretraining ({TRAIN_CLIPS[preset]:,} clips), {label} "
                      f"({describe(best)}): {best['clips_per_s']:.1f} clips/s -> {hours:.2f} h")  # fmt: skip
    return picks


@dataclass
class PlanJobs:
    """The paper plan's work: its pretrainings (epochs, clips, batch, decoder depth) and its protocol
    jobs (protocol class, recipe, train and test clips)."""

    pretrainings: list[tuple[int, int, int, int | str]]  # epochs, clips, batch, decoder depth or GCN method
    protocols: list[tuple]

    @classmethod
    def paper(cls) -> PlanJobs:
        """``mamp-bench reproduce --scale paper``'s jobs, each pretraining once (by its hash)."""
        from mamp_bench.plan import Options, resolve
        from mamp_bench.reproduce.matrix import build_matrix

        plan, seen = cls([], []), set()
        with tempfile.TemporaryDirectory() as root:  # resolving reads no data and writes nothing
            options = Options(data_root=root, runs_dir=root, results_dir=root)
            for job in build_matrix("paper", synthetic=False):
                resolved = resolve(job.request, options)
                plan.protocols.append((resolved.protocol, resolved.config, *resolved.target.clips))
                pretraining = resolved.encoder.pretraining
                if pretraining is None or pretraining.digest in seen:
                    continue
                seen.add(pretraining.digest)
                config, clips = pretraining.config, resolved.source.clips[0]
                depth = getattr(pretraining.method_config, "decoder_depth", 5)
                depth = pretraining.method if pretraining.method in GCN_METHODS else depth
                plan.pretrainings.append((config.epochs, min(clips, config.max_clips or clips), config.batch_size,
                                          depth))  # fmt: skip
        return plan

    def cost(self, pretrain_rates: dict[int | str, float], rates: dict[str, float]) -> dict[str, float]:
        """Hours: each pretraining's epochs x whole batches / the clips/s of the nearest measured
        decoder depth (a GCN method's: its own), plus each protocol job's ``estimate_seconds`` with ``rates``."""
        pretrain_s = 0.0
        depths = [d for d in pretrain_rates if isinstance(d, int)]
        for epochs, clips, batch, depth in self.pretrainings:
            nearest = depth if isinstance(depth, str) else min(depths, key=lambda d: abs(d - depth))
            rate = pretrain_rates[nearest]
            pretrain_s += epochs * (clips // batch) * batch / rate
        protocol_s = sum(
            cls.estimate_seconds(config, train, test, rates) for cls, config, train, test in self.protocols
        )
        return {"pretrainings": len(self.pretrainings), "protocol_jobs": len(self.protocols),
                "pretrain_hours": pretrain_s / 3600, "protocol_hours": protocol_s / 3600,
                "total_hours": (pretrain_s + protocol_s) / 3600}  # fmt: skip


def report_plan(picks: dict[str, dict], rates: dict[str, float], gcn: list[dict]) -> dict[str, dict]:
    """The plan's device-hours with the default pretraining settings and with the fastest measured (the GCN
    methods' at their fp32 rate)."""
    jobs, out = PlanJobs.paper(), {}
    gcn_rates = {r["preset"]: r["clips_per_s"] for r in gcn if "skipped" not in r and r["precision"] == "fp32"}
    if "gcn-smoke" in gcn_rates:  # --quick: the small model stands for both (its figures exercise the code only)
        gcn_rates.update(dict.fromkeys(GCN_METHODS, gcn_rates.pop("gcn-smoke")))
    if any(isinstance(depth, str) and depth not in gcn_rates for *_, depth in jobs.pretrainings):
        print("paper plan: not costed here (a GCN method's pretraining step was not measured)")
        return out
    for label in ("default", "fastest, reference loss", "fastest"):
        if f"ntu60 {label}" not in picks or f"ntu120 {label}" not in picks:
            continue
        depths = {3: picks[f"ntu60 {label}"]["clips_per_s"], 5: picks[f"ntu120 {label}"]["clips_per_s"], **gcn_rates}
        cost = out[label] = jobs.cost(depths, rates)
        print(f"paper plan, pretraining {label}: {cost['pretrainings']} pretrainings {cost['pretrain_hours']:.1f} h "
              f"+ {cost['protocol_jobs']} protocol jobs {cost['protocol_hours']:.1f} h = "
              f"{cost['total_hours']:.1f} device-hours")  # fmt: skip
    return out


def report_loading(loading: dict, rows: list[dict]) -> None:
    """Is the per-sample transform fast enough (at least twice the fastest step)?"""
    measured = [r["clips_per_s"] for r in rows if "skipped" not in r]
    if "skipped" in loading or not measured:
        return
    ratio = loading["per_sample"] / max(measured)
    verdict = (
        "keeps up: the default per-sample transform is enough"
        if ratio >= 2
        else f"is below 2x: use --set batched_transform=true (batched: {loading['batched']:.0f} clips/s)"
    )
    print(f"data loading / fastest step: {ratio:.1f}x; the loader {verdict}")


def run_child(spec_text: str) -> None:
    spec = json.loads(spec_text)
    sizes = Sizes(**spec["sizes"])
    print(json.dumps(step_rate(spec["device"], spec["preset"], spec["precision"], spec["skip"], True, sizes)))


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cuda", help="cuda (default; the CPU when none is visible), cpu, auto")
    parser.add_argument("--quick", action="store_true", help="CI-sized: tiny model, batch 2, one timed step")
    parser.add_argument("--budget-s", type=float, default=420, help="no compiled run goes past this many seconds")
    parser.add_argument("--no-compile", action="store_true", help="skip torch.compile")
    parser.add_argument("--data", help="a prepared .npz for the loader (default: synthetic-ntu60, built once)")
    parser.add_argument("--json", help="write every figure to this file")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        run_child(args.child)
        return {}
    started = time.perf_counter()
    found = probe(args.device, not args.no_compile)
    sizes = Sizes.for_device("cuda" if found.device.startswith("cuda") else "cpu", args.quick)
    print(f"machine: {machine()}")
    print(f"device: {found.name} ({found.device}); batch {sizes.batch}, {sizes.warmup} warm-up + {sizes.steps} timed "
          f"steps{'; --quick: tiny model, figures exercise the code only' if sizes.quick else ''}")  # fmt: skip
    for what, why in found.skipped.items():
        print(f"skipping {what}: {why}")
    peaks = measure_peaks(found, sizes)
    for precision, peak in peaks.items():
        print(f"dense matmul {precision}: {peak['gflops']:.0f} GFLOP/s [{peak['low']:.0f}-{peak['high']:.0f}] "
              f"(n={peak['n']})")  # fmt: skip
    rows = measure_eager(found, sizes, peaks)
    loading = guarded("data loading", measure_loading, found, sizes, args.data)
    rates = guarded("protocol rates", measure_protocol_rates, found, sizes)
    for part in (loading, rates):
        if "skipped" in part:
            print(f"skipped: {part['skipped']}")
    gcn = measure_gcn_steps(found, sizes, peaks)
    rows += measure_compiled(found, sizes, peaks, args.budget_s, started)
    picks = report_projections(rows)
    plan = guarded("plan", report_plan, picks, rates, gcn) if "skipped" not in rates else {}
    report_loading(loading, rows)
    print(f"benchmark wall time: {time.perf_counter() - started:.0f} s")
    result = {"machine": machine(), "device": asdict(found), "sizes": asdict(sizes), "peaks": peaks, "steps": rows,
              "gcn_steps": gcn, "loading": loading, "rates": rates,
              "encoder_gflop_per_clip": encoder_gflop_per_clip(sizes), "projections": picks,
              "plan": plan}  # fmt: skip
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=1))
    return result


if __name__ == "__main__":
    main()
