"""The memory codec: a long video → a fixed budget of memory tokens in a .gcodec → any frame back.

The file keeps what the compressor makes before its fixed linear maps (the pooled low-res latent and
the narrow high-res features), quantised per channel and range coded; the decoder rebuilds the
tokens with the same model (its fingerprint is in the header) and retrieves frames with the DiT
(default) or the one-step head, or continues the video after its end.
"""

from __future__ import annotations


import numpy as np
import torch

from .. import container, entropy, media, models, ratecontrol
from ..codecs import by_name
from ..errors import FormatError, InputError
from . import model as memory_model
from .planner import GRID, TEMPORAL_FACTOR, parse_strides, plan
from .retrievers import frame_time

INFO = by_name("memory")
SEC_LOW, SEC_HIGH = 1, 2
P_ST, P_SH, P_SW, P_STEP, P_PRINT = range(5)
DEFAULT_STEP_CODE = 0  # quantiser step = σ_channel · 2^(code/4) / 4
DEFAULT_DECODE_STEPS = 20
MAX_FRAMES_ENV, MAX_FRAMES_DEFAULT = "GENCODEC_MAX_MEMORY_FRAMES", 2400  # 100 s at 24 fps
RETRIEVERS = ("dit", "head")


def max_frames() -> int:
    import os

    return int(os.environ.get(MAX_FRAMES_ENV, MAX_FRAMES_DEFAULT))


def _step(code: int) -> float:
    return 2.0 ** (code / 4.0) / 4.0


class MemoryCodec:
    name = "memory"

    def encode(self, video, *, model: str | None = None, budget_tokens: int | None = None, strides=None,
               target_bytes: int | None = None, fps: float | None = None, device=None, **unused) -> bytes:
        """Compress a long video (path, or uint8 frames (T, H, W, 3) with `fps`) into memory tokens."""
        if unused:
            raise InputError(f"option(s) not used by memory: {', '.join(sorted(unused))}")
        frames, fps = media.as_video(video, fps, max_frames=max_frames())  # the codec's own, longer frame limit
        if budget_tokens is not None and strides is not None:
            raise InputError("give --budget-tokens or --strides, not both")
        if isinstance(strides, str):
            strides = parse_strides(strides)
        if budget_tokens is None and strides is None:
            strides = (2, 4, 4)  # the paper's 4×4×2
        p = plan(len(frames), frames.shape[1], frames.shape[2], fps, budget_tokens=budget_tokens, strides=strides)
        spec = models.resolve(model, INFO.family)
        mem = memory_model.load(spec, device)
        with torch.no_grad():
            stored = mem.stored(frames, p)
        params = {P_ST: p.strides[0], P_SH: p.strides[1], P_SW: p.strides[2], P_PRINT: mem.fingerprint()}
        header = container.Header(codec=INFO.id, model=models.header_model(spec), media=container.MEDIA_VIDEO,
                                  width=p.width, height=p.height, frames=p.frames, fps_milli=int(round(fps * 1000)),
                                  params=params)

        def pack(code: int) -> bytes:
            params[P_STEP] = code
            sections = [(SEC_LOW, _code_features(stored["low"], _step(code)))]
            if "high" in stored:
                sections.append((SEC_HIGH, _code_features(stored["high"], _step(code))))
            return container.pack(header, sections)

        if target_bytes is None:
            return pack(DEFAULT_STEP_CODE)
        return ratecontrol.finest_fitting(pack, -32, 64, target_bytes, " for this budget (lower --budget-tokens)")[1]

    def read(self, data: bytes, model: str | None = None, device=None):
        """(container, plan, memory model, stored features) with every field checked."""
        c = container.unpack(data)
        h = c.header
        if h.codec != INFO.id or h.media != container.MEDIA_VIDEO:
            raise FormatError("not a memory file")
        if h.frames > max_frames():
            raise FormatError(f"the file holds {h.frames} frames; this decoder allows {max_frames()} "
                              f"(raise {MAX_FRAMES_ENV})")
        media.check_video_size(h.width, h.height, h.frames, max_frames())
        strides = tuple(h.params.get(k, 0) for k in (P_ST, P_SH, P_SW))
        if min(strides) < 1 or max(strides) > 256 or not -64 <= h.params.get(P_STEP, 0) <= 64:
            raise FormatError("corrupt file: bad strides or quantiser step")
        p = plan(h.frames, h.height, h.width, h.fps, strides=strides)
        spec = models.from_header(h.model) if model is None else models.resolve(model, INFO.family)
        if models.force_tiny():
            spec = models.resolve(None, INFO.family)
        mem = memory_model.load(spec, device)
        if mem.fingerprint() != h.params.get(P_PRINT):
            raise FormatError(f"the file was made with other memory weights than {models.model_name(spec)} "
                              "(fingerprints differ): decode with the model it was encoded with")
        step = _step(h.params.get(P_STEP, DEFAULT_STEP_CODE))
        tm, hm, wm = p.memory_grid
        cfg = mem.compressor.cfg
        stored = {"low": _decode_features(c.section(SEC_LOW), (cfg.latent_channels, tm, 2 * hm, 2 * wm), step)}
        if cfg.variant == "full":
            stored["high"] = _decode_features(c.section(SEC_HIGH), (cfg.feature_channels, tm, hm, wm), step)
        stored = {k: v.to(mem.device) for k, v in stored.items()}
        return c, p, mem, stored

    @torch.no_grad()
    def decode(self, data: bytes, *, frame: int | None = None, continue_seconds: float | None = None,
               retriever: str = "dit", steps: int | None = None, prompt: str | None = None, seed: int = 0,
               model: str | None = None, device=None, progress=None, **unused) -> np.ndarray:
        """Frame `frame` (H, W, 3); all frames (T, H, W, 3); or `continue_seconds` of new video after the end."""
        if unused:
            raise InputError(f"option(s) not used by memory: {', '.join(sorted(unused))}")
        if retriever not in RETRIEVERS:
            raise InputError(f"unknown retriever '{retriever}' (dit or head)")
        steps = DEFAULT_DECODE_STEPS if steps is None else steps
        if not 1 <= steps <= 500:
            raise InputError("--steps must be between 1 and 500")
        c, p, mem, stored = self.read(data, model, device)
        if frame is not None and not 0 <= frame < p.frames:
            raise InputError(f"--frame must be between 0 and {p.frames - 1} (the video has {p.frames} frames)")
        memory, pos = mem.memory(stored, p)
        lh, lw = -(-p.height // GRID) * 2, -(-p.width // GRID) * 2
        if continue_seconds is not None:
            return self._continue(mem, p, memory, pos, continue_seconds, prompt or "", steps, seed, (lh, lw))
        wanted = [frame] if frame is not None else list(range(p.frames))
        out = []
        for i in range(0, len(wanted), 16):
            chunk = wanted[i : i + 16]
            t0 = frame_time(torch.tensor(chunk, dtype=torch.float32, device=mem.device))
            z = mem.retrieve(memory, pos, p, t0, (lh, lw), retriever=retriever, steps=steps, seed=seed, prompt=prompt or "")
            out.append(mem.decode_frame_latents(z)[:, : p.height, : p.width])
            if progress:
                progress(min(i + 16, len(wanted)), len(wanted))
        frames = np.concatenate(out)
        return frames[0] if frame is not None else frames

    def _continue(self, mem, p, memory, pos, seconds: float, prompt: str, steps: int, seed: int, size) -> np.ndarray:
        """New frames after the video's end: the DiT samples a clip at the following latent times."""
        n = int(round(seconds * (p.fps or 16.0)))
        if not 1 <= n <= media.max_video_frames():
            raise InputError(f"--continue must give between 1 and {media.max_video_frames()} frames")
        latent_frames = 1 + -(-(n - 1) // TEMPORAL_FACTOR)
        t0 = torch.tensor([float(p.latent_frames)], device=mem.device)
        z = mem.retrieve(memory, pos, p, t0, size, frames=latent_frames, steps=steps, seed=seed, prompt=prompt)
        return np.ascontiguousarray(mem.wan.decode_latent(z[0])[:n, : p.height, : p.width])

    def describe(self, c: container.Container) -> dict:
        h = c.header
        strides = tuple(h.params.get(k, 1) for k in (P_ST, P_SH, P_SW))
        try:
            p = plan(h.frames, h.height, h.width, h.fps, strides=strides)
        except InputError:
            return {}
        return {"mode": p.label, "tokens": p.tokens, "full_tokens": p.full_tokens,
                "compression": round(p.full_tokens / p.tokens, 2), "tokens_per_second": round(p.tokens_per_second, 2),
                "bytes_per_token": round(sum(len(s) for _, s in c.sections) / p.tokens, 2)}


def _code_features(x: torch.Tensor, step: float) -> bytes:
    """(1, C, T, H, W) floats → C float16 scales + the range-coded integer grid (C, T·H, W)."""
    x = x[0].float().cpu()
    c = x.shape[0]
    scale = x.reshape(c, -1).std(1).clamp_min(1e-6).half()
    q = torch.round(x / (scale.float().view(c, 1, 1, 1) * step)).to(torch.int64)
    return scale.numpy().astype("<f2").tobytes() + entropy.encode_grid(q.reshape(c, -1, x.shape[-1]).numpy())


def _decode_features(data: bytes, shape: tuple[int, int, int, int], step: float) -> torch.Tensor:
    c, t, h, w = shape
    if len(data) < 2 * c:
        raise FormatError("corrupt file: memory section is truncated")
    scale = np.frombuffer(data[: 2 * c], "<f2").astype(np.float32)
    if not np.all(np.isfinite(scale)) or np.any(scale < 0):
        raise FormatError("corrupt file: bad feature scales")
    q = entropy.decode_grid(data[2 * c :], (c, t * h, w)).reshape(c, t, h, w)
    return (torch.from_numpy(q.astype(np.float32)) * torch.from_numpy(scale).view(c, 1, 1, 1) * step)[None]
