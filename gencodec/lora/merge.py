"""The merge edit: two LoRA files → one whose decoder applies the sum of their weight deltas.

Each file's adapter adds ΔW = B·A (A carries the seeded offset A₀), bilinear in θ, so ΔW_A + ΔW_B is
in general not the delta of any single θ, and the two θ may use different lengths and partition
seeds. The merged file therefore keeps both coded θ byte for byte (no re-quantisation, no model
needed to merge) and the decoder installs both adapters:

    header  A's header; params: A's theta_length/seed/decode_steps, plus theta_length_b (5), seed_b (6)
    4       θ_A as coded in A          5   θ_B as coded in B          2   the prompt (UTF-8, if any)

Choices made here: the initial noise is A's seed and the frame rate is A's; inference-time scaling
choices are dropped (they replay one clip's sampler under its own adapter and prompt) and the merge
decodes with the plain ODE. Both files must be single-θ lora files of the same model and the same
frame size and count; merges of merges are refused (the format holds two θ).
"""

from __future__ import annotations

from .. import container
from ..codecs import by_id
from ..errors import InputError
from . import codec as lc


def merge(a: bytes, b: bytes, prompt: str | None = None) -> bytes:
    """A merged .gcodec file of two lora files. `prompt` None: the stored prompts joined with " and "
    (one alone if the other is empty or both are the same), so the merge reads as "A's scene and B's"."""
    ca, pa = _read(a, "file A")
    cb, pb = _read(b, "file B")
    ha, hb = ca.header, cb.header
    if (ha.model, ha.model_revision) != (hb.model, hb.model_revision):
        raise InputError("cannot merge lora files made with different models")
    if (ha.width, ha.height, ha.frames) != (hb.width, hb.height, hb.frames):
        raise InputError(f"cannot merge lora files of different shapes: {ha.width}×{ha.height}×{ha.frames} frames "
                         f"and {hb.width}×{hb.height}×{hb.frames} frames")
    if prompt is None:
        prompt = " and ".join(dict.fromkeys(p for p in (pa, pb) if p))
    if len(prompt.encode("utf-8")) > lc.MAX_PROMPT_BYTES:
        raise InputError(f"merged prompt longer than {lc.MAX_PROMPT_BYTES} bytes (give a shorter --prompt)")
    (_, _, theta_a), = lc.theta_parts(ca)
    (d_b, seed_b, theta_b), = lc.theta_parts(cb)
    params = {k: v for k, v in ha.params.items() if k in (lc.P_D, lc.P_SEED, lc.P_STEPS)}
    if d_b is not None:  # absent: the decoder's default length, as for A
        params[lc.P_D_B] = d_b
    if seed_b != lc.DEFAULT_SEED:
        params[lc.P_SEED_B] = seed_b
    header = container.Header(codec=ha.codec, model=ha.model, media=ha.media, width=ha.width, height=ha.height,
                              frames=ha.frames, fps_milli=ha.fps_milli, model_revision=ha.model_revision, params=params)
    sections = [(lc.SEC_THETA_A, theta_a), (lc.SEC_THETA_B, theta_b)]
    if prompt:
        sections.append((lc.SEC_PROMPT, prompt.encode("utf-8")))
    return container.pack(header, sections)


def _read(data: bytes, which: str):
    """(container, prompt) of a single-θ lora file; corrupt bytes raise FormatError, the wrong kind InputError."""
    c = container.unpack(data)
    if c.header.codec != lc.INFO.id:
        raise InputError(f"{which} is not a lora file (it is {by_id(c.header.codec).name}); only lora files can be merged")
    c, prompt = lc.LoRACodec().read(data)
    if len(lc.theta_parts(c)) != 1:
        raise InputError(f"{which} is already a merge; merging a merged file is not supported")
    return c, prompt
