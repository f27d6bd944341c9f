"""The analytic FLOP counts used for utilisation figures equal PyTorch's FlopCounterMode."""

import torch
from torch.utils.flop_counter import FlopCounterMode

import mamp_bench
from mamp_bench.engine.flops import encoder_flops, masked_pretrain_flops


def counted(fn) -> int:
    with FlopCounterMode(display=False) as counter:
        fn()
    return counter.get_total_flops()


def test_pretrain_step_flops_match_flop_counter_on_the_paper_model():
    # explicit attention: FlopCounterMode does not count the CPU SDPA kernel, but the maths is the same
    method = mamp_bench.build_method("mamp", encoder__attention="explicit", decoder_depth=5)
    x = torch.randn(2, 3, 120, 25, 2)
    total = counted(lambda: method(x, torch.arange(2)).loss.backward())
    assert total == masked_pretrain_flops(method.config, sequences=4)["total"]
    assert round(total / 2 / 1e9, 1) == 58.6  # GFLOP per two-person clip (NTU-120 preset: 5-block decoder)


def test_encoder_flops_match_flop_counter_for_a_small_encoder():
    method = mamp_bench.build_method("mamp", encoder__attention="explicit", encoder__dim=64, encoder__depth=3)
    encoder = method.encoder.eval()
    x = torch.randn(3, 3, 120, 25, 2)
    with torch.no_grad():
        total = counted(lambda: encoder(x))
    assert total == 6 * encoder_flops(encoder.config)
