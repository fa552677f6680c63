"""GVC: video coded as the codebook atoms that steer Wan 2.1's stochastic sampler (GVCC, arXiv 2603.26571).

Per GOP of 33 frames (9 latent frames) the encoder runs the rectified-flow SDE from a seeded x_T;
at each of the 17 SDE steps it picks, per latent frame, the M of K seeded Gaussian atoms best aligned
with (target latent − x̂0) and injects their signed sum as the step's noise; 3 ODE steps finish. The
file holds only the index sets (⌈log2 C(K,M)⌉ + M bits per frame-step). The decoder replays the loop.

This version implements T2V mode (no reference frames, empty prompt, no CFG). Frames are padded to
a multiple of 16 pixels and the last GOP repeats the last frame; both are cropped after decoding.
"""

from __future__ import annotations

import numpy as np
import torch
from tqdm.auto import tqdm

from .. import codebook, container, media, models
from ..codecs import by_name
from ..errors import FormatError, InputError
from . import sampler, sde
from .wan import PATCH, SPATIAL_FACTOR, TEMPORAL_FACTOR, load_wan

INFO = by_name("gvc")
MODES = {"t2v": 0}
SEC_ATOMS = 1
# header keys; a value equal to its default is not stored
P_MODE, P_K, P_M, P_STEPS, P_TAIL, P_GOP, P_SEED, P_SHIFT, P_G = range(9)
DEFAULT_K = 16384
DEFAULT_STEPS = 20
DEFAULT_ODE_TAIL = 3
DEFAULT_GOP = 33
DEFAULT_SEED = 42
DEFAULT_G = 3.0
MAX_K = 1 << 20
GRID = SPATIAL_FACTOR * PATCH


def default_atoms(height: int) -> int:
    return 80 if height > 720 else 64


class GVCCodec:
    name = "gvc"

    # ------------------------------------------------------------ parameters

    @staticmethod
    def _settings(height: int, params: dict[int, int]) -> dict:
        s = {
            "mode": params.get(P_MODE, 0),
            "K": params.get(P_K, DEFAULT_K),
            "M": params.get(P_M, default_atoms(height)),
            "steps": params.get(P_STEPS, DEFAULT_STEPS),
            "ode_tail": params.get(P_TAIL, DEFAULT_ODE_TAIL),
            "gop": params.get(P_GOP, DEFAULT_GOP),
            "seed": params.get(P_SEED, DEFAULT_SEED),
            "shift": params.get(P_SHIFT, round(100 * sde.default_shift(height))) / 100.0,
            "g": params.get(P_G, round(100 * DEFAULT_G)) / 100.0,
        }
        return s

    @staticmethod
    def _check(s: dict, err) -> None:
        if s["mode"] not in MODES.values():
            raise err(f"unknown gvc mode {s['mode']}")
        if not 2 <= s["K"] <= MAX_K:
            raise err(f"codebook size K must be in 2..{MAX_K}")
        if not 1 <= s["M"] <= s["K"]:
            raise err("atoms M must be between 1 and K")
        if not 1 <= s["steps"] <= 200 or not 0 <= s["ode_tail"] < s["steps"]:
            raise err("steps must be 1..200 with fewer ODE tail steps than steps")
        if s["gop"] < 1 or (s["gop"] - 1) % TEMPORAL_FACTOR or s["gop"] > 257:
            raise err("GOP length must be 4k+1 frames (e.g. 9, 17, 33), at most 257")
        if not 0 <= s["seed"] < 1 << 32 or not 0 < s["shift"] <= 100 or not 0 <= s["g"] <= 100:
            raise err("seed, shift or g out of range")

    # ------------------------------------------------------------ encode

    def encode(
        self,
        video,
        *,
        model: str | None = None,
        mode: str | None = None,
        atoms: int | None = None,
        codebook_size: int | None = None,
        steps: int | None = None,
        gop: int | None = None,
        seed: int | None = None,
        fps: float | None = None,
        device=None,
        **unused,
    ) -> bytes:
        """Compress a video (path, or uint8 frames (T, H, W, 3) with `fps`) into a .gcodec file."""
        if unused:
            raise InputError(f"option(s) not used by gvc: {', '.join(sorted(unused))}")
        frames, fps = self._load(video, fps)
        n, h, w = frames.shape[:3]
        mode = mode or "t2v"
        if mode not in MODES:
            raise InputError(f"gvc mode '{mode}' is not available in this version (available: {', '.join(MODES)})")
        chosen = {P_MODE: MODES[mode], P_K: codebook_size, P_M: atoms, P_STEPS: steps, P_GOP: gop, P_SEED: seed}
        defaults = self._settings(h, {})
        keys = {P_MODE: "mode", P_K: "K", P_M: "M", P_STEPS: "steps", P_GOP: "gop", P_SEED: "seed"}
        params = {k: v for k, v in chosen.items() if v is not None and v != defaults[keys[k]]}
        s = self._settings(h, params)
        self._check(s, InputError)
        spec = models.resolve(model, INFO.family)
        wan = load_wan(spec, device)
        header = container.Header(
            codec=INFO.id, model=models.header_model(spec), media=container.MEDIA_VIDEO,
            width=w, height=h, frames=n, fps_milli=int(round(fps * 1000)), params=params,
        )
        selections = []
        for g, target in enumerate(tqdm(self.target_latents(frames, wan, s["gop"]), desc="GOPs", disable=None)):
            _, chosen_sel = self._sample(wan, s, g, target.shape, target=target)
            selections += [sel for step in chosen_sel for sel in step]
        return container.pack(header, [(SEC_ATOMS, codebook.pack_selections(selections, s["K"]))])

    def target_latents(self, frames: np.ndarray, wan, gop: int = DEFAULT_GOP) -> list[torch.Tensor]:
        """What the encoder steers towards: each padded GOP's normalised VAE latent, as (F, C, h, w)."""
        return [self._to_sampler(wan.encode_video(chunk)) for chunk in self._gops(frames, gop)]

    @staticmethod
    def _load(video, fps):
        if isinstance(video, np.ndarray):
            if video.ndim != 4 or video.shape[-1] != 3 or video.dtype != np.uint8:
                raise InputError(f"expected uint8 frames (T, H, W, 3), got {video.dtype} {video.shape}")
            media.check_video_size(video.shape[2], video.shape[1], video.shape[0])
            return video, float(fps or 16.0)
        frames, source_fps = media.load_video(video)
        return frames, float(fps or source_fps)

    @staticmethod
    def _gops(frames: np.ndarray, gop: int):
        """Padded GOPs: sides to a multiple of 16, the last GOP filled by repeating the last frame."""
        n = len(frames)
        padded = np.stack([media.pad_to_multiple(f, GRID) for f in frames]) if frames.shape[1] % GRID or frames.shape[2] % GRID else frames
        for start in range(0, n, gop):
            chunk = padded[start : start + gop]
            if len(chunk) < gop:
                chunk = np.concatenate([chunk, np.repeat(chunk[-1:], gop - len(chunk), axis=0)])
            yield chunk

    @staticmethod
    def _to_sampler(z: torch.Tensor) -> torch.Tensor:
        return z.permute(1, 0, 2, 3).contiguous().to(torch.float32)  # (C, F, h, w) → (F, C, h, w): one codebook per frame

    @staticmethod
    def _sample(wan, s: dict, gop_index: int, shape, target=None, selections=None):
        frames_lat = shape[0]
        gen = torch.Generator("cpu").manual_seed(s["seed"] * 1_000_003 + gop_index)
        x_init = torch.randn(shape, generator=gen, dtype=torch.float32)  # x_T: seeded on the CPU, free

        def velocity(x, t):
            return wan.velocity(x.permute(1, 0, 2, 3), t).permute(1, 0, 2, 3).to(torch.float32).cpu()

        schedule = sampler.Schedule(steps=s["steps"], ode_tail=s["ode_tail"], shift=s["shift"], g=s["g"])
        return sampler.run(
            velocity, x_init, schedule, seed=s["seed"], K=s["K"], atoms_per_frame=[s["M"]] * frames_lat,
            target=target, selections=selections, frame0=gop_index * frames_lat, progress=f"GOP {gop_index + 1}",
        )

    # ------------------------------------------------------------ decode

    def read(self, data: bytes):
        """Parse a file and its index sets (no model needed); every check happens here."""
        c = container.unpack(data)
        h = c.header
        if h.codec != INFO.id or h.media != container.MEDIA_VIDEO:
            raise FormatError("not a gvc video file")
        media.check_video_size(h.width, h.height, h.frames)
        s = self._settings(h.height, h.params)
        self._check(s, FormatError)
        lat_frames = (s["gop"] - 1) // TEMPORAL_FACTOR + 1
        n_gops = -(-h.frames // s["gop"])
        per_gop = (s["steps"] - s["ode_tail"]) * lat_frames
        sels = codebook.unpack_selections(c.section(SEC_ATOMS), s["K"], [s["M"]] * (n_gops * per_gop))
        return c, s, sels, lat_frames, n_gops

    @torch.no_grad()
    def decode(self, data: bytes, *, steps: int | None = None, device=None, model: str | None = None, **unused) -> np.ndarray:
        """A .gcodec file → uint8 frames (T, H, W, 3) at the source size (fps: `gencodec.info`)."""
        if unused:
            raise InputError(f"option(s) not used by gvc: {', '.join(sorted(unused))}")
        if steps is not None:
            raise InputError("gvc decodes with the steps it was encoded with (--steps is an encode option)")
        c = container.unpack(data)
        h = c.header
        spec = models.from_header(h.model) if model is None else models.resolve(model, INFO.family)
        if models.force_tiny():
            spec = models.resolve(None, INFO.family)
        self.read(data)  # every check before the model is loaded
        wan = load_wan(spec, device)
        out = [wan.decode_latent(z.permute(1, 0, 2, 3)) for z in self.decode_latents(data, wan)]
        frames = np.concatenate(out)[: h.frames, : h.height, : h.width]
        return np.ascontiguousarray(frames)

    def decode_latents(self, data: bytes, wan) -> list[torch.Tensor]:
        """Replay the sampler per GOP: the decoded latents (F, C, h, w), before the VAE."""
        c, s, sels, lat_frames, n_gops = self.read(data)
        h = c.header
        lat_shape = (lat_frames, 16, -(-h.height // GRID) * PATCH, -(-h.width // GRID) * PATCH)
        sde_steps = s["steps"] - s["ode_tail"]
        latents = []
        for g in tqdm(range(n_gops), desc="GOPs", disable=None):
            flat = sels[g * sde_steps * lat_frames : (g + 1) * sde_steps * lat_frames]
            replay = [flat[i * lat_frames : (i + 1) * lat_frames] for i in range(sde_steps)]
            z, _ = self._sample(wan, s, g, lat_shape, selections=replay)
            latents.append(z)
        return latents

    def describe(self, c: container.Container) -> dict:
        s = self._settings(c.header.height, c.header.params)
        return {
            "mode": {v: k for k, v in MODES.items()}.get(s["mode"], "?"),
            "atoms": s["M"],
            "codebook_size": s["K"],
            "steps": s["steps"],
            "ode_tail": s["ode_tail"],
            "gop": s["gop"],
            "seed": s["seed"],
            "shift": s["shift"],
            "g": s["g"],
        }
