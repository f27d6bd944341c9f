"""Networks shared by every method: the skeleton transformer encoder, the masked decoder, heads."""

from mamp_bench.models.transformer import EncoderConfig, MaskedDecoder, SkeletonEncoder

__all__ = ["EncoderConfig", "MaskedDecoder", "SkeletonEncoder"]
