"""The one-shot GPU benchmark (``benchmarks/gpu.py``) in its CI-sized form on the CPU: the same
code path as on a GPU (the engine's step, the loader, the protocol rates, the plan), tiny sizes."""

from __future__ import annotations

import json

import pytest
import torch

from benchmarks import gpu
from mamp_bench.engine.hardware import bf16_support


def test_quick_run_measures_every_available_configuration_and_costs_the_plan(ntu60_prepared, tmp_path, capsys):
    out = tmp_path / "gpu.json"
    data = ntu60_prepared[0] / "NTU60_XSub.npz"
    gpu.main(["--quick", "--device", "cpu", "--no-compile", "--data", str(data), "--json", str(out)])
    result = json.loads(out.read_text())
    printed = capsys.readouterr().out
    assert result["device"]["skipped"]["compile"] == "--no-compile" and "skipping compile" in printed
    assert "tf32" in result["device"]["skipped"]  # no TF32 on a CPU, and it says so
    precisions = ["fp32"] + (["bf16"] if bf16_support(torch.device("cpu"))[0] else [])
    rows = result["steps"]
    assert not [r for r in rows if "skipped" in r]
    measured = {(r["preset"], r["precision"], r["skip"]) for r in rows}
    assert measured == {(p, q, s) for p in gpu.PRESETS for q in precisions for s in (False, True)}
    for row in rows:
        assert row["clips_per_s"] > 0 and row["gflop_per_step"] > 0 and row["utilisation"] > 0
        assert row["low"] <= row["clips_per_s"] <= row["high"]
    skipped, everyone = (
        next(r for r in rows if r["preset"] == "ntu60" and r["precision"] == "fp32" and r["skip"] is s)
        for s in (True, False)
    )
    assert skipped["gflop_per_step"] < everyone["gflop_per_step"]  # absent persons cost nothing
    assert (
        result["loading"]["workers"] == 0 and result["loading"]["per_sample"] > 0 and result["loading"]["batched"] > 0
    )
    assert result["rates"]["encode"] > 0 and result["rates"]["train"] > 0
    assert 0 < result["encoder_gflop_per_clip"] < 1  # the quick encoder's forward on two persons
    default = result["projections"]["ntu60 default"]
    assert default["hours_400_epochs"] == pytest.approx(400 * 313 * 128 / default["clips_per_s"] / 3600)
    (gcn,) = result["gcn_steps"]  # the ST-GCN step (the smoke-sized AimCLR under --quick), fp32 on a CPU
    assert gcn["preset"] == "gcn-smoke" and gcn["clips_per_s"] > 0 and gcn["utilisation"] > 0
    assert gcn["hours_300_epochs"] == pytest.approx(300 * 313 * 128 / gcn["clips_per_s"] / 3600)
    assert "gcn-smoke pretraining step (fp32" in printed
    plan = result["plan"]["default"]
    assert plan["pretrainings"] >= 2 and plan["protocol_jobs"] > plan["pretrainings"]
    assert plan["total_hours"] == pytest.approx(plan["pretrain_hours"] + plan["protocol_hours"])
    assert result["plan"]["fastest"]["pretrain_hours"] <= plan["pretrain_hours"]


def test_plan_cost_is_the_stated_formula():
    jobs = gpu.PlanJobs([(400, 40091, 128, 3), (400, 63026, 128, 5), (300, 40091, 128, "aimclr")], [])
    cost = jobs.cost({3: 100.0, 5: 50.0, "aimclr": 20.0}, {"encode": 1.0, "train": 1.0})
    assert cost["pretrain_hours"] == pytest.approx(
        (400 * 313 * 128 / 100 + 400 * 492 * 128 / 50 + 300 * 313 * 128 / 20) / 3600
    )  # a GCN method's pretraining at its own rate, the masked ones at their nearest decoder depth
    assert cost["protocol_hours"] == 0 and cost["pretrainings"] == 3


def test_a_failing_compile_is_reported_not_raised():
    reason = gpu.compile_failure("cuda:99", timeout=120)  # no such device on any machine
    assert reason is not None and reason.startswith("torch.compile failed:")


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the fallback of a machine without CUDA")
def test_asking_for_cuda_without_one_falls_back_to_the_cpu_and_says_so(capsys):
    found = gpu.probe("cuda", compile_check=False)
    assert found.device == "cpu" and "no CUDA device is visible" in capsys.readouterr().out
