"""Protocols that match the paper's scripts (fidelity=reference) and the suite's clean protocol:
the scripts' subset draws, their checkpoint epochs, their batch layout and per-process BatchNorm."""

from __future__ import annotations

import json
import os
import re
import socket

import numpy as np
import pytest
import torch
import torch.multiprocessing as mp
from torch.utils.data import DistributedSampler

from mamp_bench.cli import main
from mamp_bench.data.specs import get_dataset
from mamp_bench.engine.distributed import Runtime
from mamp_bench.engine.run_folder import RunFolder
from mamp_bench.engine.sampler import ReferenceSampler
from mamp_bench.errors import UserError
from mamp_bench.evaluation.heads import LinearHead, per_process_batch_norm
from mamp_bench.evaluation.protocol import ProtocolContext
from mamp_bench.plan import Options, Request, resolve
from mamp_bench.registry import PROTOCOLS
from mamp_bench.results.store import ResultsStore

NTU60_XSUB_TRAIN = 40091


def _label_file(path, clips: int, classes: int = 60):
    """A prepared file with NTU-60 xsub's number of training clips (the subsets depend on that only)."""
    y = np.zeros((clips, classes))
    y[np.arange(clips), np.arange(clips) % classes] = 1
    np.savez(path, x_train=np.zeros((clips, 1, 150), np.float32), y_train=y,
             x_test=np.zeros((1, 1, 150), np.float32), y_test=y[:1])  # fmt: skip
    return path


@pytest.mark.parametrize("fraction, per_process", [(0.01, 400), (0.1, 4009)])
def test_reference_subsets_are_the_scripts_draws(tmp_path, fraction, per_process):
    path = _label_file(tmp_path / "NTU60_XSub.npz", NTU60_XSUB_TRAIN)
    expected = []
    for rank in range(2):  # what main_finetune.py and feeder_ntu_semi.py do in each of their 2 processes
        np.random.seed(0 + rank)
        labels = np.where(np.load(path)["y_train"] > 0)[1]
        idx = np.arange(labels.shape[0])
        np.random.shuffle(idx)
        expected.append(idx[: int(labels.shape[0] * fraction)])

    from mamp_bench.data.dataset import SkeletonDataset

    semi = PROTOCOLS.get("semi")
    config = semi.config("ntu60", "paper", {"fraction": str(fraction)})
    assert config.fidelity == "reference" and config.subset_seed == 0
    ctx = ProtocolContext(get_dataset("ntu60-xsub"), None, lambda: None, Runtime(torch.device("cpu")),
                          RunFolder(tmp_path / "run"), seed=3)  # fmt: skip
    subset = semi().train_subset(ctx, SkeletonDataset(path).label_array(), config)
    assert [len(r) for r in subset.reference_ranks] == [per_process, per_process]
    for rank, positions in enumerate(subset.reference_ranks):
        np.testing.assert_array_equal(subset.indices[positions], expected[rank])  # exact, in the scripts' order
    distinct = len(np.unique(np.concatenate(expected)))
    assert subset.extras["subset"]["distinct"] == distinct and subset.extras["subset"]["size"] == 2 * per_process
    saved = json.loads((tmp_path / "run" / "subset.json").read_text())
    assert saved["draws"] == [e.tolist() for e in expected]


def test_clean_subsets_are_stratified_per_seed():
    semi = PROTOCOLS.get("semi")
    config = semi.config("ntu60", "paper", {"fraction": "0.01", "fidelity": "clean"})
    labels = np.arange(NTU60_XSUB_TRAIN) % 60
    ctx = ProtocolContext(get_dataset("ntu60-xsub"), None, lambda: None, Runtime(torch.device("cpu")),
                          RunFolder("/nonexistent"), seed=3)  # fmt: skip
    ctx.runtime.rank = 1  # not the main process: nothing written (the context is frozen, its runtime is not)
    subset = semi().train_subset(ctx, labels, config)
    assert subset.reference_ranks is None and len(subset.indices) == 400
    assert len(np.unique(labels[subset.indices])) == 60


@pytest.mark.parametrize("epoch", [0, 3])
def test_the_reference_sampler_draws_the_scripts_batches(epoch):
    rank_items = [np.arange(7) + 100 * r for r in range(2)]  # two processes' datasets of 7 clips
    per_process = 2
    expected = []
    for rank in range(2):
        sampler = DistributedSampler(list(range(7)), num_replicas=2, rank=rank, shuffle=True)  # as main_*.py
        sampler.set_epoch(epoch)
        order = list(sampler)
        expected.append([rank_items[rank][order[s * per_process : (s + 1) * per_process]] for s in range(2)])
    one = ReferenceSampler(rank_items, 4, seed=5)
    one.set_epoch(epoch)
    batches = [[i for i, _ in list(one)][s * 4 : (s + 1) * 4] for s in range(one.steps)]
    assert one.steps == 2  # 4 clips a process an epoch (7 padded to 8), batches of 2, drop_last
    for step in range(2):
        assert batches[step] == [*expected[0][step].tolist(), *expected[1][step].tolist()]
    for rank in range(2):  # on 2 processes, process r is the reference's process r
        two = ReferenceSampler(rank_items, 4, rank=rank, world_size=2, seed=5)
        two.set_epoch(epoch)
        assert [i for i, _ in two] == [int(x) for step in expected[rank] for x in step]


def _ddp_linear_head(rank: int, port: int, batch: torch.Tensor, labels: torch.Tensor, out: str) -> None:
    """Process ``rank`` of two: a linear-probe head under DDP without SyncBatchNorm, two SGD steps."""
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    torch.distributed.init_process_group("gloo", rank=rank, world_size=2)
    torch.manual_seed(0)
    head = LinearHead(16, 5)
    model = torch.nn.parallel.DistributedDataParallel(head)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    half = batch.shape[0] // 2
    for _ in range(2):
        loss = torch.nn.functional.cross_entropy(model(batch[rank * half : (rank + 1) * half]),
                                                 labels[rank * half : (rank + 1) * half])  # fmt: skip
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    with torch.no_grad():
        model.eval()(batch[:2])  # a forward broadcasts process 0's buffers, as the next step or an evaluation does
    if rank == 0:
        torch.save({k: v.clone() for k, v in head.state_dict().items()}, out)
    torch.distributed.destroy_process_group()


def test_per_process_batch_norm_equals_two_processes_of_128(tmp_path):
    generator = torch.Generator().manual_seed(1)
    batch, labels = torch.randn(256, 16, generator=generator) * 3 + 1, torch.randint(0, 5, (256,), generator=generator)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    mp.spawn(_ddp_linear_head, args=(port, batch, labels, str(tmp_path / "ddp.pt")), nprocs=2, join=True)
    two_processes = torch.load(tmp_path / "ddp.pt")

    torch.manual_seed(0)
    head = per_process_batch_norm(LinearHead(16, 5), ghost=128)
    optimizer = torch.optim.SGD(head.parameters(), lr=0.1, momentum=0.9)
    for _ in range(2):
        loss = torch.nn.functional.cross_entropy(head(batch), labels)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    one_process = head.state_dict()
    assert one_process.keys() == two_processes.keys()  # the same names: checkpoints load either way
    for key, value in two_processes.items():
        torch.testing.assert_close(one_process[key], value, atol=1e-6, rtol=1e-5, msg=key)
    plain = LinearHead(16, 5).train()
    plain(batch)  # BatchNorm over the whole batch: other running statistics
    assert not torch.allclose(plain.fc[0].running_var, one_process["fc.0.running_var"])


def _resolve(protocol: str, dataset: str, *sets: str, source: str | None = None):
    overrides = dict(s.split("=", 1) for s in sets)
    request = Request("mamp", protocol, dataset, source=source, scale="paper", overrides=overrides)
    return resolve(request, Options(data_root="/nonexistent"))


def test_reference_mode_evaluates_the_scripts_checkpoint_epoch():
    assert _resolve("linear", "pku1-xsub").encoder.checkpoint_epoch == 300
    assert _resolve("linear", "pku2-xsub").encoder.checkpoint_epoch == 300
    assert _resolve("transfer", "pku2-xsub", source="pku1-xsub").encoder.checkpoint_epoch == 300
    assert _resolve("transfer", "pku2-xsub", source="ntu60-xsub").encoder.checkpoint_epoch == -1  # 399: final
    assert _resolve("linear", "ntu60-xsub").encoder.checkpoint_epoch == -1
    pku = _resolve("linear", "pku1-xsub")
    assert 300 in pku.encoder.pretraining.config.keep_epochs and pku.config.fidelity == "reference"
    assert _resolve("linear", "pku1-xsub", "fidelity=clean").encoder.checkpoint_epoch == -1
    with pytest.raises(UserError, match="checkpoint_epoch is a fidelity=reference setting"):
        _resolve("linear", "pku1-xsub", "fidelity=clean", "checkpoint_epoch=200")
    with pytest.raises(UserError, match="does not exist: the pretraining runs 400 epochs"):
        _resolve("linear", "pku1-xsub", "checkpoint_epoch=400")


def test_a_run_evaluates_and_records_the_epoch_it_names(ntu60_prepared, tmp_path):
    argv = ["run", "--protocol", "knn", "--dataset", "ntu60-xsub", "--data-root", str(ntu60_prepared[0]),
            "--runs-dir", str(tmp_path / "runs"), "--results-dir", str(tmp_path / "results"), "--device", "cpu",
            "--quiet", "--set", "fidelity=reference", "--set", "checkpoint_epoch=1", "--set", "k=5",
            "--set", "pretrain.epochs=3", "--set", "pretrain.warmup_epochs=0", "--set", "pretrain.batch_size=8",
            "--set", "pretrain.max_clips=16", "--set", "method.encoder.dim=32", "--set", "method.encoder.depth=1",
            "--set", "method.encoder.heads=2", "--set", "method.decoder_dim=32"]  # fmt: skip
    assert main(argv) == 0
    (record,) = ResultsStore(tmp_path / "results").records()
    assert record["fidelity"] == "reference" and record["encoder"]["checkpoint_epoch"] == 1
    assert record["encoder"]["checkpoint"].endswith("checkpoint-1.pth")  # kept although checkpoint_every is 20
    log = [json.loads(line) for line in (tmp_path / "runs" / "pretrain").glob("*/log.jsonl").__next__().open()]
    assert record["encoder"]["checkpoint_sha256"] == log[1]["checkpoint_sha256"]


def test_the_paper_plan_lists_fidelity_checkpoint_and_gpu_hours(tmp_path, capsys):
    argv = ["reproduce", "--scale", "paper", "--data-root", str(tmp_path), "--dry-run", "--groups", "linear,semi",
            "--runs-dir", str(tmp_path / "runs"), "--results-dir", str(tmp_path / "results")]  # fmt: skip
    os.environ["COLUMNS"] = "250"
    try:
        assert main(argv) == 0
        shared = capsys.readouterr().out
        assert main([*argv, "--pretrain-per-seed"]) == 0
        per_seed = capsys.readouterr().out
    finally:
        del os.environ["COLUMNS"]
    rows = [line for line in shared.splitlines() if "linear mamp pku1-xsub" in line]
    assert len(rows) == 1 and "reference" in rows[0] and "epoch 300" in rows[0]
    assert any("linear mamp ntu60-xsub" in line and "final" in line for line in shared.splitlines())

    def pretrainings(text: str) -> int:
        return sum(1 for line in text.splitlines() if "│ 1 pretrain" in line)

    def gpu_hours(text: str) -> float:
        return float(re.search(r"to run; ([\d.]+) GPU-hours on RTX 4090", text)[1])

    # 5 semi seeds x 2 datasets x 2 methods: 16 pretrainings more when every seed pretrains its own
    assert pretrainings(per_seed) - pretrainings(shared) == 16 and gpu_hours(per_seed) > gpu_hours(shared)
    assert "published, not measured here: RTX 4090" in shared
