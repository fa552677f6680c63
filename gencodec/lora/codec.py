"""The LoRA implicit-representation codec (Compression as Adaptation, arXiv 2603.07615).

A clip is stored as a function: θ, one vector that a seeded partition expands into rank-1 adapters on
every attention Linear of a frozen Wan 2.1 T2V model, fitted with the flow-matching loss on the clip's
latent. The file holds the entropy-coded quantised θ, its quantiser step, the caption and the seeds.
Decoding runs the adapted model's 50-step Euler ODE from a seeded x_T; a different prompt at decode
time edits the video.

This version: one clip of up to 81 frames (padded to 4k+1 frames and a multiple of 16 pixels, cropped
back), fitting in full precision then uniform quantisation (step from `--target-bytes` or from θ's
spread), optionally followed by a rate stage (`qat_steps`: θ rounded to that grid in the forward pass,
straight-through, plus a per-group Laplace rate term on the rounded values). Inference-time scaling (`scaling=N`): decoding becomes the codebook SDE sampler with one of N
seeded candidates per step, chosen by the encoder against the true latent and stored (⌈log2 N⌉ + 1
bits per step); the decoder replays the choices exactly.

Merge (`merge.py`): a merged file holds two θ, each with its own length and seed, and the decoder
installs both adapters, so the model sees W₀ + ΔW_A + ΔW_B (ΔW = B·A is bilinear in θ, so the sum is
not one θ). Its θ sections use their own tags (4, 5), not 1, so an older gencodec refuses a merged
file instead of silently decoding A alone.
"""

from __future__ import annotations

import contextlib

import numpy as np
import torch

from .. import codebook, container, media, models, ratecontrol
from ..codecs import by_name
from ..errors import FormatError, InputError
from ..video import sampler, sde
from ..video.wan import PATCH, SPATIAL_FACTOR, TEMPORAL_FACTOR, load_wan
from . import fit, theta_coding
from .adapter import OneVectorLoRA

INFO = by_name("lora")
SEC_THETA, SEC_PROMPT, SEC_SCALING, SEC_THETA_A, SEC_THETA_B = 1, 2, 3, 4, 5  # 4, 5: a merge's two θ
P_D, P_SEED, P_STEPS, P_GROUPS, P_SCALING, P_D_B, P_SEED_B = range(7)  # 5, 6: a merge's second θ
SCALING_ODE_TAIL = 3  # the last steps of a scaled decode are plain ODE steps (no choice to make)
MAX_SCALING = 1 << 20
DEFAULT_D = 131_072
DEFAULT_SEED = 0
DEFAULT_DECODE_STEPS = 50
DEFAULT_BLOCK_GROUPS = 3
MAX_FRAMES = 81
PRESETS = {"fast": dict(fit_steps=300, lr=2e-3, qat_steps=0), "paper": dict(fit_steps=2000, lr=2e-3, qat_steps=400)}
GRID = SPATIAL_FACTOR * PATCH
MAX_PROMPT_BYTES = 4096


class LoRACodec:
    name = "lora"

    def encode(self, video, *, model: str | None = None, prompt: str = "", preset: str = "fast", fit_steps: int | None = None,
               lr: float | None = None, d: int | None = None, seed: int | None = None, target_bytes: int | None = None,
               scaling: int | None = None, qat_steps: int | None = None, fps: float | None = None, device=None,
               **unused) -> bytes:
        """Fit θ to a clip (path, or uint8 frames (T, H, W, 3) with `fps`) and write a .gcodec file."""
        if unused:
            raise InputError(f"option(s) not used by lora: {', '.join(sorted(unused))}")
        if preset not in PRESETS:
            raise InputError(f"unknown preset '{preset}' (fast or paper)")
        prompt = prompt or ""
        if len(prompt.encode("utf-8")) > MAX_PROMPT_BYTES:
            raise InputError(f"prompt longer than {MAX_PROMPT_BYTES} bytes")
        if scaling is not None and not 2 <= scaling <= MAX_SCALING:
            raise InputError(f"--scaling must be between 2 and {MAX_SCALING} candidates per step")
        steps = fit_steps if fit_steps is not None else PRESETS[preset]["fit_steps"]
        if not 0 <= steps <= 100_000:
            raise InputError("--fit-steps must be between 0 and 100000")
        frames, fps = _load(video, fps)
        n, h, w = frames.shape[:3]
        spec = models.resolve(model, INFO.family)
        wan = load_wan(spec, device)
        z = wan.encode_video(_pad(frames))
        adapter = OneVectorLoRA(wan.transformer, d=1, seed=0, block_groups=DEFAULT_BLOCK_GROUPS)  # to learn D
        D = adapter.num_lora_entries
        d = d if d is not None else min(DEFAULT_D, max(1, D // 4))
        seed = DEFAULT_SEED if seed is None else seed
        if not 1 <= d <= D or not 0 <= seed < 1 << 32:
            raise InputError(f"d must be in 1..{D} (LoRA entries of this model) and seed in 0..2^32−1")
        adapter = OneVectorLoRA(wan.transformer, d=d, seed=seed, block_groups=DEFAULT_BLOCK_GROUPS).to(wan.device)
        shift = sde.default_shift(h)
        qat_steps = PRESETS[preset]["qat_steps"] if qat_steps is None else qat_steps
        if not 0 <= qat_steps <= 100_000:
            raise InputError("--qat-steps must be between 0 and 100000")
        with adapter:
            fit.fit(wan, adapter, z, prompt, steps, lr=lr or PRESETS[preset]["lr"], seed=seed, shift=shift)
            if qat_steps:  # rate stage: fine-tune θ as rounded to the step the file will use
                fit.quantisation_aware(wan, adapter, z, prompt, qat_steps, _spread_step(adapter.state()), seed=seed + 1,
                                       shift=shift)
        theta = adapter.state().detach().float().cpu()
        params = {P_D: d} if seed == DEFAULT_SEED else {P_D: d, P_SEED: seed}
        if scaling:
            params[P_SCALING] = scaling
        header = container.Header(codec=INFO.id, model=models.header_model(spec), media=container.MEDIA_VIDEO, width=w,
                                  height=h, frames=n, fps_milli=int(round(fps * 1000)), params=params)
        groups = adapter.theta_groups

        # With --scaling the candidate choices take a known number of bytes, so rate control can size θ first.
        reserved = b"\0" * codebook.payload_bytes(scaling, [1] * (DEFAULT_DECODE_STEPS - SCALING_ODE_TAIL)) if scaling else b""

        def pack(step: float, choices: bytes = reserved) -> bytes:
            sections = [(SEC_THETA, theta_coding.encode_theta(theta, step, groups))]
            if prompt:
                sections.append((SEC_PROMPT, prompt.encode("utf-8")))
            if scaling:
                sections.append((SEC_SCALING, choices))
            return container.pack(header, sections)

        spread = _spread_step(theta)
        step = spread if target_bytes is None else _rate_control(pack, spread, target_bytes)  # spread: ≈ 2 bits/entry
        if not scaling:
            return pack(step)
        # Inference-time scaling: with the θ the decoder will have, pick one of N seeded candidates per step.
        symbols = theta_coding.quantize(theta, step)
        adapter.load(theta_coding.dequantize(symbols, step))
        with adapter:
            chosen = _scaled_sampling(wan, adapter, z.shape, prompt, seed, scaling, sde.default_shift(h), target=z)
        return pack(step, codebook.pack_selections(chosen, scaling))

    def read(self, data: bytes):
        c = container.unpack(data)
        h = c.header
        if h.codec != INFO.id or h.media != container.MEDIA_VIDEO:
            raise FormatError("not a lora video file")
        media.check_video_size(h.width, h.height, h.frames)
        if h.frames > MAX_FRAMES:
            raise FormatError(f"corrupt file: a lora clip has at most {MAX_FRAMES} frames")
        try:
            prompt = dict(c.sections).get(SEC_PROMPT, b"").decode("utf-8")
        except UnicodeDecodeError:
            raise FormatError("corrupt file: prompt is not UTF-8") from None
        return c, prompt

    @torch.no_grad()
    def decode(self, data: bytes, *, prompt: str | None = None, steps: int | None = None, device=None,
               model: str | None = None, **unused) -> np.ndarray:
        """θ → adapted model → 50-step ODE → frames. `prompt` replaces the stored caption (an edit)."""
        if unused:
            raise InputError(f"option(s) not used by lora: {', '.join(sorted(unused))}")
        c, stored_prompt = self.read(data)
        h = c.header
        steps = steps if steps is not None else h.params.get(P_STEPS, DEFAULT_DECODE_STEPS)
        if not 1 <= steps <= 500:
            raise InputError("--steps must be between 1 and 500")
        spec = models.from_header(h.model) if model is None else models.resolve(model, INFO.family)
        if models.force_tiny():
            spec = models.resolve(None, INFO.family)
        wan = load_wan(spec, device)
        seed = h.params.get(P_SEED, DEFAULT_SEED)  # a merge's noise seed is A's
        D = OneVectorLoRA(wan.transformer, d=1, seed=0, block_groups=DEFAULT_BLOCK_GROUPS).num_lora_entries
        adapters = []
        for d, theta_seed, payload in theta_parts(c):
            d = min(DEFAULT_D, max(1, D // 4)) if d is None else d
            if not 1 <= d <= D:
                raise FormatError("corrupt file: θ length does not fit this model")
            adapter = OneVectorLoRA(wan.transformer, d=d, seed=theta_seed, block_groups=DEFAULT_BLOCK_GROUPS).to(wan.device)
            adapter.load(theta_coding.decode_theta_tensor(payload, d, adapter.theta_groups))
            adapters.append(adapter)
        n = _clip_length(h.frames)
        shape = (16, (n - 1) // TEMPORAL_FACTOR + 1, -(-h.height // GRID) * PATCH, -(-h.width // GRID) * PATCH)
        use_prompt = stored_prompt if prompt is None else prompt
        with contextlib.ExitStack() as attached:  # every adapter's hook adds its own B(Ax): the deltas sum
            for adapter in adapters:
                attached.enter_context(adapter)
            if P_SCALING in h.params:
                n_cand = h.params[P_SCALING]
                if not 2 <= n_cand <= MAX_SCALING:
                    raise FormatError("corrupt file: bad number of scaling candidates")
                choices = codebook.unpack_selections(c.section(SEC_SCALING), n_cand, [1] * (DEFAULT_DECODE_STEPS - SCALING_ODE_TAIL))
                z = _scaled_sampling(wan, adapter, shape, use_prompt, seed, n_cand, sde.default_shift(h.height), choices=choices)
            else:
                z = fit.ode_decode(wan, shape, use_prompt, steps=steps, shift=sde.default_shift(h.height), seed=seed)
        frames = wan.decode_latent(z)[: h.frames, : h.height, : h.width]
        return np.ascontiguousarray(frames)

    def describe(self, c: container.Container) -> dict:
        prompt = dict(c.sections).get(SEC_PROMPT, b"").decode("utf-8", "replace")
        params = c.header.params
        out = {"prompt": prompt, "theta_length": params.get(P_D), "seed": params.get(P_SEED, DEFAULT_SEED)}
        if SEC_THETA_B in dict(c.sections):
            out.update(merged=True, theta_length_b=params.get(P_D_B), seed_b=params.get(P_SEED_B, DEFAULT_SEED))
        return out


def theta_parts(c: container.Container) -> list[tuple[int | None, int, bytes]]:
    """(θ length or None for the default, seed, coded θ) of each adapter: one, or two for a merge."""
    p, tags = c.header.params, dict(c.sections)
    if not ({SEC_THETA_A, SEC_THETA_B} & tags.keys() or {P_D_B, P_SEED_B} & p.keys()):
        return [(p.get(P_D), p.get(P_SEED, DEFAULT_SEED), c.section(SEC_THETA))]
    if SEC_THETA in tags or SEC_THETA_A not in tags or SEC_THETA_B not in tags:
        raise FormatError("corrupt file: a merged lora file needs exactly its two θ sections")
    return [(p.get(P_D), p.get(P_SEED, DEFAULT_SEED), tags[SEC_THETA_A]),
            (p.get(P_D_B), p.get(P_SEED_B, DEFAULT_SEED), tags[SEC_THETA_B])]


def _scaled_sampling(wan, adapter, shape, prompt: str, seed: int, candidates: int, shift: float, *, target=None, choices=None):
    """The codebook sampler with one choice of N seeded candidates per step over the whole latent.

    Encoding (target given) returns the choices; decoding (choices given) returns the latent.
    """
    x_init = torch.randn(shape, generator=torch.Generator("cpu").manual_seed(seed)).to(wan.device)[None].flatten(1)

    def velocity(x, t):
        return wan.velocity(x.reshape(shape), t, prompt).float().reshape(1, -1)

    schedule = sampler.Schedule(steps=DEFAULT_DECODE_STEPS, ode_tail=SCALING_ODE_TAIL, shift=shift)
    replay = None if choices is None else [[c] for c in choices]
    x, chosen = sampler.run(velocity, x_init, schedule, seed=seed, K=candidates, atoms_per_frame=[1],
                            target=None if target is None else target.reshape(1, -1), selections=replay,
                            progress="scaled sampling")
    return [step[0] for step in chosen] if target is not None else x.reshape(shape)


def _spread_step(theta: torch.Tensor) -> float:
    """Default quantiser step: mean |θ|, about 2 bits per entry for Laplace-like θ (also the rate stage's grid)."""
    return float(theta.abs().mean()) or 1e-3


def _clip_length(n: int) -> int:
    return n + (-(n - 1)) % TEMPORAL_FACTOR  # next 4k+1


def _pad(frames: np.ndarray) -> np.ndarray:
    n = len(frames)
    need = _clip_length(n)
    if need > n:
        frames = np.concatenate([frames, np.repeat(frames[-1:], need - n, axis=0)])
    return media.pad_frames(frames, GRID)


def _load(video, fps):
    frames, fps = media.as_video(video, fps)
    if len(frames) > MAX_FRAMES:
        raise InputError(f"the lora codec codes one clip of at most {MAX_FRAMES} frames; this video has {len(frames)}")
    return frames, fps


def _rate_control(pack, spread: float, target: int) -> float:
    """The finest quantiser step (on a 2^(1/16) grid around θ's spread) whose whole file fits `target` bytes."""
    code, _ = ratecontrol.finest_fitting(lambda c: pack(spread * 2.0 ** (c / 16.0)), -160, 160, target)
    return spread * 2.0 ** (code / 16.0)
