"""Generate the GCN family's expected values by running the reference code on CPU (``expected.npz``,
``expected.json`` beside this file), for ``tests/test_gcn_parity.py``.

    python tests/reference/gcn/make_expected.py --aimclr /work/ref/aimclr --crossclr /work/ref/crossclr \
        --real-samples ../shared/data/real-samples

``--aimclr`` / ``--crossclr``: checkouts of Levigty/AimCLR (6cd73767) and LinguoLi/CrosSCLR (792b70c7). Their
code is imported from there, never copied: a few modules are loaded with small textual patches for CPU,
NumPy 2 and PyTorch 2 (``PATCHES``: ``np.reshape``'s removed ``newshape=`` keyword, ``.cuda()``, the GPU index
of the queue write, the hard-coded PKU paths). Needs ``opencv-python-headless`` and ``pyyaml`` beside the
suite's environment. Each part runs in its own process (the two repositories have packages of the same names).

What is computed (inputs from ``cases.py``):

* data: st-gcn's converter + the 50-frame processor on the made-up edge cases (outputs kept), and on the real
  NTU files, real-derived variants and a PKU-MMD I tree around the real Phase II file (stage-1 sha256, valid
  lengths and sketches kept: the real data is never written here);
* aimclr: graph, parameter counts, the official state-dict layout, features of an official-layout checkpoint,
  the feeders' augmentations with their random draws recorded, and the processor's loss and gradients for
  each stream, before and after mining starts;
* skeletonclr: CrosSCLR's SkeletonCLR processor's loss and gradients for each stream.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import json
import os
import pickle
import random
import subprocess
import sys
import tempfile
import types
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[2]))
from tests.reference.gcn import cases  # noqa: E402

PATCHES = {
    "feeder/NTUDatasets.py": [("newshape=", "")],
    "net/aimclr.py": [(".cuda()", ""), ("gpu_index = keys.device.index", "gpu_index = keys.device.index or 0")],
    "net/skeletonclr.py": [(".cuda()", ""), ("gpu_index = keys.device.index", "gpu_index = keys.device.index or 0")],
}
STREAMS = ("joint", "motion", "bone")
#: the model arguments of every pretext config (``config/ntu60/pretext/*.yaml``), with the full queue
MODEL_ARGS = dict(base_encoder="net.st_gcn.Model", pretrain=True, feature_dim=128, queue_size=cases.QUEUE,
                  momentum=0.999, Temperature=0.07, mlp=True, in_channels=3, hidden_channels=16, hidden_dim=256,
                  num_class=60, dropout=0.5, graph_args={"layout": "ntu-rgb+d", "strategy": "spatial"},
                  edge_importance_weighting=True)  # fmt: skip
DROPOUT_SEED = 1234
PY_SEED, NP_SEED = 11, 13  # the first AUG_CLIPS clips then cover every branch of the extreme view


def load_patched(name: str, path: Path, patches: list[tuple[str, str]]) -> types.ModuleType:
    """Import ``path`` as module ``name`` after textual ``patches`` (each must apply)."""
    source = path.read_text()
    for old, new in patches:
        if old not in source:
            raise SystemExit(f"patch {old!r} does not apply to {path}")
        source = source.replace(old, new)
    spec = importlib.util.spec_from_loader(name, loader=None, origin=str(path))
    module = importlib.util.module_from_spec(spec)
    module.__file__ = str(path)
    if "." in name:
        module.__package__ = name.rsplit(".", 1)[0]
    sys.modules[name] = module
    exec(compile(source, str(path), "exec"), module.__dict__)
    return module


def stub_unused_imports() -> None:
    """h5py and tensorboardX are imported on these paths but not used."""
    sys.modules.setdefault("h5py", types.ModuleType("h5py"))
    board = types.ModuleType("tensorboardX")
    board.SummaryWriter = object
    sys.modules.setdefault("tensorboardX", board)


def sha(array: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(array, dtype=np.float32).tobytes()).hexdigest()


# ----- part: data --------------------------------------------------------------------------------------------
def part_data(aimclr: Path, real: Path | None, out: Path) -> None:
    sys.path[:0] = [str(aimclr / "tools"), str(aimclr / "feeder")]
    load_patched("NTUDatasets", aimclr / "feeder/NTUDatasets.py", PATCHES["feeder/NTUDatasets.py"])
    import ntu_gendata
    import preprocess_ntu

    def run_chain(raw: Path, work: Path, gendata_module, benchmark="xsub") -> dict[str, dict]:
        """Stage 1 and 2 of the reference on every file of ``raw``: name -> {stage1, position}."""
        results = {}
        for part in ("train", "val"):
            (work / "stage1" / benchmark).mkdir(parents=True, exist_ok=True)
            (work / "frame50" / benchmark).mkdir(parents=True, exist_ok=True)
            gendata_module.gendata(str(raw), str(work / "stage1" / benchmark), None, benchmark=benchmark, part=part)
            preprocess_ntu.gendata(str(work / "stage1"), str(work / "frame50" / benchmark), benchmark, part)
            with open(work / "stage1" / benchmark / f"{part}_label.pkl", "rb") as handle:
                names, labels = pickle.load(handle)
            stage1 = np.load(work / "stage1" / benchmark / f"{part}_data.npy")
            position = np.load(work / "frame50" / benchmark / f"{part}_position.npy")
            for i, name in enumerate(names):
                results[name.split(".")[0]] = {"stage1": stage1[i], "position": position[i], "label": labels[i]}
        return results

    arrays, facts = {}, {"edge_cases": {}, "real": {}, "pku": {}}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        edge = cases.write_edge_cases(tmp / "edge")
        got = run_chain(tmp / "edge", tmp / "edge_work", ntu_gendata)
        for case, path in edge.items():
            stem = path.name.split(".")[0]
            arrays[f"edge/{case}"] = got[stem]["position"]
            facts["edge_cases"][case] = {"stem": stem, "stage1_sha256": sha(got[stem]["stage1"]),
                                         "valid_length": int(valid_length(got[stem]["stage1"]))}  # fmt: skip
        if real is not None:
            raw = tmp / "real"
            raw.mkdir()
            for stem in cases.REAL_NTU:
                (raw / f"{stem}.skeleton").symlink_to(real / "ntu" / f"{stem}.skeleton")
            variants = cases.write_real_variants(real / "ntu", raw)
            got = run_chain(raw, tmp / "real_work", ntu_gendata)
            names = {stem: stem for stem in cases.REAL_NTU} | {k: v.name.split(".")[0] for k, v in variants.items()}
            for key, stem in names.items():
                facts["real"][key] = _real_facts(stem, got[stem])
                arrays[f"real_input/{key}"] = got[stem]["position"]  # kept in memory for the model part only
            facts["pku"] = _pku(aimclr, real, tmp)
    np.savez(out / "data.npz", **{k: v for k, v in arrays.items() if k.startswith("edge/")})
    np.save(out / "real_inputs.npy", np.stack([arrays[f"real_input/{k}"] for k in facts["real"]]) if facts["real"]
            else np.zeros((0, 3, 50, 25, 2), np.float32))  # fmt: skip
    (out / "data.json").write_text(json.dumps(facts))


def valid_length(stage1: np.ndarray) -> int:
    return int((np.abs(stage1[:, :, 0, 0]).sum(axis=0) != 0).sum())


def _real_facts(stem: str, got: dict) -> dict:
    return {"stem": stem, "label": int(got["label"]), "stage1_sha256": sha(got["stage1"]),
            "valid_length": valid_length(got["stage1"]), "sketch": cases.sketch(got["position"]).tolist()}  # fmt: skip


def _pku(aimclr: Path, real: Path, tmp: Path) -> dict:
    root = cases.write_pku_tree(real / "pku-mmd-phase2" / "A10N08-L.txt", tmp / "pku")
    converted = tmp / "pku_skeletons"
    converted.mkdir()
    convert = load_patched("pku_part1_skeleton", aimclr / "tools/pku_part1_skeleton.py", [
        ("skeleton_folder = 'E:/2021/datasets/original_data/pkummd/v1/PKU_Skeleton_Renew/'",
         f"skeleton_folder = '{root}/skeleton/'"),
        ("label_folder = 'E:/2021/datasets/original_data/pkummd/v1/Train_Label_PKU_final/'",
         f"label_folder = '{root}/label/'"),
        ("save_path = 'E:/2021/datasets/original_data/pkummd/skeleton_pku_v1/'", f"save_path = '{converted}/'"),
        ("for file_id in range(2, 365):", "for file_id in []:"),
    ])  # fmt: skip
    convert.transfer_and_save(2, "L")
    convert.transfer_and_save(3, "M")
    gendata = load_patched("pku_part1_gendata", aimclr / "tools/pku_part1_gendata.py", [
        ("training_split_file_folder = 'E:/2021/datasets/original_data/pkummd/v1/'",
         f"training_split_file_folder = '{root}/'"),
    ])  # fmt: skip
    import preprocess_pku

    facts = {}
    for part in ("train", "val"):
        (tmp / "pku_stage1" / "xsub").mkdir(parents=True, exist_ok=True)
        (tmp / "pku_frame50" / "xsub").mkdir(parents=True, exist_ok=True)
        gendata.gendata(str(converted), str(tmp / "pku_stage1" / "xsub"), None, benchmark="xsub", part=part)
        preprocess_pku.gendata(str(tmp / "pku_stage1"), str(tmp / "pku_frame50" / "xsub"), "xsub", part)
        with open(tmp / "pku_stage1" / "xsub" / f"{part}_label.pkl", "rb") as handle:
            names, _ = pickle.load(handle)
        stage1 = np.load(tmp / "pku_stage1" / "xsub" / f"{part}_data.npy")
        position = np.load(tmp / "pku_frame50" / "xsub" / f"{part}_position.npy")
        for i, name in enumerate(names):
            facts[name.split(".")[0]] = {**_real_facts(name.split(".")[0], {"stage1": stage1[i], "label": 0,
                                                                           "position": position[i]}),
                                         "part": part}  # fmt: skip
            facts[name.split(".")[0]].pop("label")
    return facts


# ----- RNG recording -----------------------------------------------------------------------------------------
class Recorder:
    """Wraps a generator; logs every call as [name, result] (an array result is logged by its shape)."""

    def __init__(self, generator, prefix: str, log: list):
        self._generator, self._prefix, self._log = generator, prefix, log

    def __getattr__(self, name):
        method = getattr(self._generator, name)

        def call(*args, **kwargs):
            result = method(*args, **kwargs)
            logged = {"shape": list(np.shape(result))} if np.ndim(result) else float(result)
            self._log.append([f"{self._prefix}.{name}", logged])
            return result

        return call


class NumpyWithRecordedRandom:
    """NumPy, with ``random`` replaced by a recorder."""

    def __init__(self, recorder: Recorder):
        self.random = recorder

    def __getattr__(self, name):
        return getattr(np, name)


def record_feeder(tools, feeder, data: np.ndarray) -> tuple[list, list]:
    """Every sample of ``feeder`` with its RNG calls: ([views per sample], [call log per sample])."""
    log: list = []
    tools.random = Recorder(random.Random(PY_SEED), "py", log)
    tools.np = NumpyWithRecordedRandom(Recorder(np.random.RandomState(NP_SEED), "np", log))
    views, logs = [], []
    for i in range(len(data)):
        log.clear()
        sample, _ = feeder[i]
        views.append([np.asarray(v) for v in sample])
        logs.append(list(log))
    return views, logs


def write_feeder_input(tmp: Path, data: np.ndarray) -> tuple[str, str]:
    np.save(tmp / "position.npy", data)
    with open(tmp / "label.pkl", "wb") as handle:
        pickle.dump(([f"clip{i}" for i in range(len(data))], [0] * len(data)), handle)
    return str(tmp / "position.npy"), str(tmp / "label.pkl")


def make_processor(processor_cls, model, optimizer, batch, args: dict, epoch: int):
    """A reference processor around ``model`` and ``optimizer`` whose ``train(epoch)`` runs on one ``batch``,
    without its logging and data loading (the parts of ``Processor.__init__`` a training step reads)."""
    import torch

    proc = processor_cls.__new__(processor_cls)
    proc.arg = argparse.Namespace(optimizer="SGD", step=[250], base_lr=0.1, **args)
    proc.model, proc.optimizer, proc.loss = model, optimizer, torch.nn.CrossEntropyLoss()
    proc.data_loader = {"train": [batch]}
    proc.dev, proc.global_step, proc.lr = "cpu", 0, 0.1
    proc.iter_info, proc.epoch_info, proc.meta_info = {}, {}, {"epoch": epoch - 1, "iter": 0}
    proc.show_iter_info = proc.show_epoch_info = lambda *a: None
    proc.train_log_writer = lambda *a: None
    proc.train_writer = types.SimpleNamespace(add_scalar=lambda *a, **k: None)
    return proc


def processor_run(processor_cls, model, batch, stream_arg: dict, epoch: int, epoch_args: dict):
    """One ``train(epoch)`` of a reference processor on one batch; (loss, {param: grad}, queue)."""
    import torch

    grads = {}

    class CapturingOptimizer:
        param_groups = [{}]

        def zero_grad(self):
            for p in model.parameters():
                p.grad = None

        def step(self):
            for name, p in model.named_parameters():
                if p.grad is not None:
                    grads[name] = p.grad.detach().clone()

    proc = make_processor(processor_cls, model, CapturingOptimizer(), batch, {**stream_arg, **epoch_args}, epoch)
    torch.manual_seed(DROPOUT_SEED)
    proc.train(epoch)
    return proc.iter_info["loss"], grads, model.queue.clone()


def grad_norms(grads: dict) -> dict:
    return {name: float(g.double().norm()) for name, g in grads.items()}


# ----- part: aimclr ------------------------------------------------------------------------------------------
def part_aimclr(aimclr: Path, out: Path) -> None:
    stub_unused_imports()
    sys.path[:0] = [str(aimclr), str(aimclr / "torchlight")]
    import torch

    load_patched("net.aimclr", aimclr / "net/aimclr.py", PATCHES["net/aimclr.py"])
    import feeder.tools as tools
    from feeder.ntu_feeder import Feeder_triple
    from net.aimclr import AimCLR
    from net.utils.graph import Graph
    from processor.pretrain import weights_init
    from processor.pretrain_aimclr import AimCLR_Processor

    args = MODEL_ARGS
    torch.manual_seed(0)
    model = AimCLR(**args)
    model.apply(weights_init)
    count = lambda module: sum(p.numel() for p in module.parameters())  # noqa: E731
    facts = {"params": {
        "backbone": count(model.encoder_q) - count(model.encoder_q.fc), "encoder_q": count(model.encoder_q),
        "head": count(model.encoder_q.fc), "whole": count(model),
        "trainable": sum(p.numel() for p in model.parameters() if p.requires_grad),
        "buffers": sum(b.numel() for b in model.buffers()),
    }}  # fmt: skip
    layout = [[k, list(v.shape)] for k, v in model.state_dict().items()]
    facts["layout"] = layout
    adjacency = Graph(layout="ntu-rgb+d", strategy="spatial").A
    arrays = {"graph_A": adjacency}

    def fresh_model():
        m = AimCLR(**args)
        m.load_state_dict(cases.official_state(layout, 0, adjacency))
        return m

    # an official checkpoint: the reference's own save (torchlight IO.save_model) of the recipe weights
    import torchlight

    with tempfile.TemporaryDirectory() as tmp:
        io = torchlight.IO(tmp, save_log=False, print_log=False)
        io.save_model(fresh_model(), "epoch300_model.pt")
        saved = torch.load(Path(tmp) / "epoch300_model.pt")
        assert [k for k, _ in layout] == list(saved), "the saved checkpoint's keys differ from the state dict"

    # features of the checkpoint's encoder_q, eval mode: pooled backbone (fc removed) and projection
    inputs = {"clips": cases.clips(), "real": np.load(out / "real_inputs.npy")}
    for name, x in inputs.items():
        if not len(x):
            continue
        m = fresh_model().eval()
        with torch.no_grad():
            arrays[f"projection/{name}"] = m.encoder_q(torch.from_numpy(x)).numpy()
            m.encoder_q.fc = torch.nn.Identity()
            arrays[f"features/{name}"] = m.encoder_q(torch.from_numpy(x)).numpy()

    # augmentations with recorded draws, then the processor's loss for each stream and epoch
    with tempfile.TemporaryDirectory() as tmp:
        feeder = Feeder_triple(*write_feeder_input(Path(tmp), cases.clips()), shear_amplitude=0.5,
                               temperal_padding_ratio=6, mmap=False)  # fmt: skip
        views, logs = record_feeder(tools, feeder, cases.clips())
    facts["aimclr_draws"] = logs
    facts["seeds"] = {"python": PY_SEED, "numpy": NP_SEED, "dropout": DROPOUT_SEED}
    for v, name in enumerate(("extreme", "query", "key")):
        arrays[f"aug/{name}"] = np.stack([views[i][v] for i in range(cases.AUG_CLIPS)]).astype(np.float32)
    batch = ([torch.from_numpy(np.stack([s[v] for s in views])) for v in range(3)], torch.zeros(len(views)))
    facts["aimclr_runs"] = {}
    for stream in STREAMS:
        for epoch in (1, 151):
            loss, grads, queue = processor_run(AimCLR_Processor, fresh_model(), batch, {"stream": stream}, epoch,
                                               {"mining_epoch": 150, "topk": 1})  # fmt: skip
            facts["aimclr_runs"][f"{stream}/{epoch}"] = {"loss": loss, "grad_norms": grad_norms(grads)}
            arrays[f"keys/aimclr/{stream}/{epoch}"] = queue[:, : cases.BATCH].T.numpy()
    np.savez(out / "aimclr.npz", **arrays)
    (out / "aimclr.json").write_text(json.dumps(facts))


# ----- part: skeletonclr -------------------------------------------------------------------------------------
def part_skeletonclr(crossclr: Path, out: Path) -> None:
    stub_unused_imports()
    sys.path[:0] = [str(crossclr), str(crossclr / "torchlight")]
    import torch

    load_patched("net.skeletonclr", crossclr / "net/skeletonclr.py", PATCHES["net/skeletonclr.py"])
    import feeder.tools as tools
    from feeder.ntu_feeder import Feeder_dual
    from net.skeletonclr import SkeletonCLR
    from processor.pretrain_skeletonclr import SkeletonCLR_Processor

    args = MODEL_ARGS
    probe = SkeletonCLR(**args)
    layout = [[k, list(v.shape)] for k, v in probe.state_dict().items()]
    adjacency = probe.encoder_q.A.numpy()
    with tempfile.TemporaryDirectory() as tmp:
        feeder = Feeder_dual(*write_feeder_input(Path(tmp), cases.clips()), shear_amplitude=0.5,
                             temperal_padding_ratio=6, mmap=False)  # fmt: skip
        views, logs = record_feeder(tools, feeder, cases.clips())
    batch = ([torch.from_numpy(np.stack([s[v] for s in views])) for v in range(2)], torch.zeros(len(views)))
    facts, arrays = {"skeletonclr_draws": logs, "skeletonclr_layout": layout, "skeletonclr_runs": {}}, {}
    for stream in STREAMS:
        model = SkeletonCLR(**args)
        model.load_state_dict(cases.official_state(layout, 0, adjacency))
        loss, grads, queue = processor_run(SkeletonCLR_Processor, model, batch, {"view": stream}, 1, {})
        facts["skeletonclr_runs"][stream] = {"loss": loss, "grad_norms": grad_norms(grads)}
        arrays[f"keys/skeletonclr/{stream}"] = queue[:, : cases.BATCH].T.numpy()
    np.savez(out / "skeletonclr.npz", **arrays)
    (out / "skeletonclr.json").write_text(json.dumps(facts))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--aimclr", type=Path, required=True)
    parser.add_argument("--crossclr", type=Path, required=True)
    parser.add_argument("--real-samples", type=Path)
    parser.add_argument("--part", choices=("data", "aimclr", "skeletonclr"), help=argparse.SUPPRESS)
    parser.add_argument("--work", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.part:
        {"data": lambda: part_data(args.aimclr, args.real_samples, args.work),
         "aimclr": lambda: part_aimclr(args.aimclr, args.work),
         "skeletonclr": lambda: part_skeletonclr(args.crossclr, args.work)}[args.part]()  # fmt: skip
        return
    with tempfile.TemporaryDirectory() as work:
        for part in ("data", "aimclr", "skeletonclr"):
            command = [sys.executable, __file__, "--part", part, "--work", work, "--aimclr", str(args.aimclr),
                       "--crossclr", str(args.crossclr)]  # fmt: skip
            if args.real_samples:
                command += ["--real-samples", str(args.real_samples)]
            subprocess.run(command, check=True, env={**os.environ, "PYTHONHASHSEED": "0"})
        work = Path(work)
        arrays = {**np.load(work / "data.npz"), **np.load(work / "aimclr.npz"), **np.load(work / "skeletonclr.npz")}
        facts = {}
        for name in ("data", "aimclr", "skeletonclr"):
            facts.update(json.loads((work / f"{name}.json").read_text()))
        facts["generated_with"] = {"aimclr": "Levigty/AimCLR 6cd73767", "crossclr": "LinguoLi/CrosSCLR 792b70c7",
                                   "torch": __import__("torch").__version__, "numpy": np.__version__,
                                   "opencv": __import__("cv2").__version__}  # fmt: skip
        np.savez_compressed(cases.EXPECTED, **arrays)
        cases.EXPECTED_JSON.write_text(json.dumps(facts, indent=1, sort_keys=True) + "\n")
    print(f"wrote {cases.EXPECTED} and {cases.EXPECTED_JSON}")


if __name__ == "__main__":
    main()
