"""The toy gpt-oss: its shape, the compact-vocabulary training wrapper and MXFP4 quantization.

The transformer is transformers' own GptOssModel; this file only adds what training needs around
it (see train_toy.py for why the vocabulary is compact) and the quantizer that writes experts in
the checkpoint's MXFP4 layout.
"""
import math

import torch
import torch.nn as nn
from transformers import GptOssConfig, GptOssModel
from transformers.integrations.mxfp4 import FP4_VALUES, convert_moe_packed_tensors

VOCAB = 201088  # o200k_harmony, as in gpt-oss

# The shape. Sliding window 32 is shorter than every prompt (the system message alone is longer),
# so the sliding-window path is exercised by every request; YaRN is gpt-oss's own.
SHAPE = {
    "hidden_size": 128,
    "intermediate_size": 128,
    "num_hidden_layers": 4,
    "num_attention_heads": 8,
    "num_key_value_heads": 4,
    "head_dim": 32,
    "num_local_experts": 8,
    "num_experts_per_tok": 2,
    "sliding_window": 32,
}


def config_dict(vocab_size=VOCAB):
    """config.json in the official gpt-oss layout (field names and fixed values as released)."""
    n = SHAPE["num_hidden_layers"]
    return {
        "architectures": ["GptOssForCausalLM"],
        "attention_bias": True,
        "attention_dropout": 0.0,
        "eos_token_id": 200002,
        "experts_per_token": SHAPE["num_experts_per_tok"],
        "head_dim": SHAPE["head_dim"],
        "hidden_act": "silu",
        "hidden_size": SHAPE["hidden_size"],
        "initial_context_length": 4096,
        "initializer_range": 0.02,
        "intermediate_size": SHAPE["intermediate_size"],
        "layer_types": ["sliding_attention" if i % 2 == 0 else "full_attention" for i in range(n)],
        "max_position_embeddings": 131072,
        "model_type": "gpt_oss",
        "num_attention_heads": SHAPE["num_attention_heads"],
        "num_experts_per_tok": SHAPE["num_experts_per_tok"],
        "num_hidden_layers": n,
        "num_key_value_heads": SHAPE["num_key_value_heads"],
        "num_local_experts": SHAPE["num_local_experts"],
        "output_router_logits": False,
        "pad_token_id": 199999,
        "quantization_config": {
            "modules_to_not_convert": ["model.layers.*.self_attn", "model.layers.*.mlp.router",
                                       "model.embed_tokens", "lm_head"],
            "quant_method": "mxfp4",
        },
        "rms_norm_eps": 1e-05,
        "rope_scaling": {"beta_fast": 32.0, "beta_slow": 1.0, "factor": 32.0,
                         "original_max_position_embeddings": 4096, "rope_type": "yarn",
                         "truncate": False},
        "rope_theta": 150000,
        "router_aux_loss_coef": 0.9,
        "sliding_window": SHAPE["sliding_window"],
        "swiglu_limit": 7.0,
        "tie_word_embeddings": False,
        "use_cache": True,
        "vocab_size": vocab_size,
    }


def hf_config(vocab_size):
    d = config_dict(vocab_size)
    d.pop("quantization_config")  # training holds plain fp32 experts
    d["pad_token_id"] = None  # the compact table has no padding row
    cfg = GptOssConfig(**d)
    cfg._attn_implementation = "eager"  # the sinks need eager attention (as in our golden oracle)
    return cfg


# ------------------------------------------------------------------------------------------
# MXFP4
# ------------------------------------------------------------------------------------------

_MAGNITUDES = torch.tensor(FP4_VALUES[:8], dtype=torch.float32)  # 0, .5, 1, 1.5, 2, 3, 4, 6


def _encode_fp4(x):
    """Nearest E2M1 code (0..15, sign in bit 3) of each element of x (already scaled)."""
    mag = (x.abs().unsqueeze(-1) - _MAGNITUDES).abs().argmin(-1)
    return (mag | ((x < 0) & (mag > 0)).to(torch.long) << 3).to(torch.uint8)


def quantize_mxfp4(w):
    """HF expert weight [E, in, out] (x @ w) -> (blocks [E, out, in/32, 16] u8,
    scales [E, out, in/32] u8): the checkpoint layout that convert_moe_packed_tensors decodes
    (low nibble = even input index). Per 32-value group it keeps the better of the two
    power-of-two scales around max|x|/6."""
    E, n_in, n_out = w.shape
    assert n_in % 32 == 0
    g = w.float().transpose(1, 2).reshape(E, n_out, n_in // 32, 32)
    amax = g.abs().amax(-1, keepdim=True).clamp_min(2.0 ** -126)
    e_hi = torch.ceil(torch.log2(amax / 6.0))
    best_err, best_codes, best_e = None, None, None
    for e in (e_hi - 1, e_hi):
        codes = _encode_fp4(g / torch.exp2(e))
        deq = torch.tensor(FP4_VALUES)[codes.long()] * torch.exp2(e)
        err = ((deq - g) ** 2).sum(-1, keepdim=True)
        if best_err is None:
            best_err, best_codes, best_e = err, codes, e
        else:
            better = err < best_err
            best_err = torch.where(better, err, best_err)
            best_codes = torch.where(better, codes, best_codes)
            best_e = torch.where(better, e, best_e)
    scales = (best_e.squeeze(-1) + 127).clamp(0, 255).to(torch.uint8)
    blocks = best_codes[..., 0::2] | (best_codes[..., 1::2] << 4)
    return blocks.contiguous(), scales.contiguous()


def dequantize_mxfp4(blocks, scales):
    """transformers' own decode (the reference): -> [E, in, out] fp32."""
    return convert_moe_packed_tensors(blocks, scales, dtype=torch.float32)


# ------------------------------------------------------------------------------------------
# Training wrapper
# ------------------------------------------------------------------------------------------

def _bf16_ste(p):
    """Rounds to bf16 in the forward pass, identity gradient (straight-through)."""
    return p + (p.to(torch.bfloat16).float() - p).detach()


class ToyModel(nn.Module):
    def __init__(self, n_used):
        super().__init__()
        self.n_used = n_used
        # Row n_used of the compact embedding is the shared "unknown" input row.
        self.inner = GptOssModel(hf_config(n_used + 1))
        # Row n_used of the head is the shared row of all VOCAB - n_used unused tokens.
        self.head = nn.Parameter(torch.randn(n_used + 1, SHAPE["hidden_size"]) * 0.02)
        self.log_unused = math.log(VOCAB - n_used)
        self.bf16_forward = False

    def hidden(self, ids):
        if not self.bf16_forward:
            return self.inner(input_ids=ids, use_cache=False).last_hidden_state
        # Quantization-aware phase: every stored tensor as the checkpoint will hold it.
        params = {n: (p if "experts" in n and "bias" not in n else _bf16_ste(p))
                  for n, p in self.inner.named_parameters()}
        return torch.func.functional_call(self.inner, params, (ids,),
                                          {"use_cache": False}).last_hidden_state

    def compact_logits(self, h):
        head = _bf16_ste(self.head) if self.bf16_forward else self.head
        logits = h @ head.t()
        # The V - U unused tokens share one logit: in the full softmax they weigh
        # exp(shared) * (V - U).
        return torch.cat([logits[:, :-1], logits[:, -1:] + self.log_unused], dim=1)

    @torch.no_grad()
    def quantize_experts(self):
        """Replaces each expert matrix by its MXFP4 round trip and freezes it."""
        for layer in self.inner.layers:
            ex = layer.mlp.experts
            for name in ("gate_up_proj", "down_proj"):
                p = getattr(ex, name)
                p.copy_(dequantize_mxfp4(*quantize_mxfp4(p.data)))
                p.requires_grad_(False)
