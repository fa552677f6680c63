"""GVC: video coded as the codebook atoms that steer Wan 2.1's stochastic sampler (GVCC, arXiv 2603.26571).

Per GOP of 33 frames (9 latent frames) the encoder runs the rectified-flow SDE from a seeded x_T;
at each of the 17 SDE steps it picks, per latent frame, the M of K seeded Gaussian atoms best aligned
with (target latent − x̂0) and injects their signed sum as the step's noise; 3 ODE steps finish. The
file holds only the index sets (⌈log2 C(K,M)⌉ + M bits per frame-step). The decoder replays the loop.

Modes: T2V (indices only; GOPs of 33 frames side by side) and I2V (the first frame is coded with our
image codec, inside the file and counted; GOP k starts from the decoded last frame of GOP k−1, so
GOPs share boundary frames and N GOPs cover 32N+1 frames; the last two latent frames get M_tail atoms;
an optional 8-bit residual of the last latent frame corrects the hand-over) and FLF2V (the first and
last frame of every GOP are coded as images and counted, boundary frames shared: N GOPs, N+1 images,
32N+1 frames). Empty prompt, no CFG.
Frames are padded to a multiple of 16 pixels and the last GOP repeats the last frame; both are cropped.
"""

from __future__ import annotations

import numpy as np
import torch
from tqdm.auto import tqdm

from .. import codebook, container, entropy, media, models
from ..codecs import by_name
from ..errors import FormatError, InputError
from . import sampler, sde
from .wan import PATCH, SPATIAL_FACTOR, TEMPORAL_FACTOR, load_wan

INFO = by_name("gvc")
MODES = {"t2v": 0, "i2v": 1, "flf2v": 2}
FAMILIES = {0: models.FAMILY_WAN_T2V, 1: models.FAMILY_WAN_I2V, 2: models.FAMILY_WAN_FLF2V}
SEC_ATOMS, SEC_REF, SEC_TAIL = 1, 2, 3
# header keys; a value equal to its default is not stored
P_MODE, P_K, P_M, P_STEPS, P_TAIL, P_GOP, P_SEED, P_SHIFT, P_G, P_TAIL_M, P_TAIL_RES = range(11)
DEFAULT_K = 16384
DEFAULT_STEPS = 20
DEFAULT_ODE_TAIL = 3
DEFAULT_GOP = 33
DEFAULT_SEED = 42
DEFAULT_G = 3.0
DEFAULT_TAIL_ATOMS = 128
TAIL_LATENT_FRAMES = 2  # I2V: the frames the next GOP starts from get more atoms
MAX_K = 1 << 20
GRID = SPATIAL_FACTOR * PATCH


def default_atoms(height: int) -> int:
    return 80 if height > 720 else 64


class GVCCodec:
    name = "gvc"

    # ------------------------------------------------------------ parameters

    @staticmethod
    def _settings(height: int, params: dict[int, int]) -> dict:
        return {
            "mode": params.get(P_MODE, 0),
            "K": params.get(P_K, DEFAULT_K),
            "M": params.get(P_M, default_atoms(height)),
            "steps": params.get(P_STEPS, DEFAULT_STEPS),
            "ode_tail": params.get(P_TAIL, DEFAULT_ODE_TAIL),
            "gop": params.get(P_GOP, DEFAULT_GOP),
            "seed": params.get(P_SEED, DEFAULT_SEED),
            "shift": params.get(P_SHIFT, round(100 * sde.default_shift(height))) / 100.0,
            "g": params.get(P_G, round(100 * DEFAULT_G)) / 100.0,
            "tail_atoms": params.get(P_TAIL_M, DEFAULT_TAIL_ATOMS),
            "tail_residual": params.get(P_TAIL_RES, 0),
        }

    @staticmethod
    def _check(s: dict, err) -> None:
        if s["mode"] not in MODES.values():
            raise err(f"unknown gvc mode {s['mode']}")
        if not 2 <= s["K"] <= MAX_K:
            raise err(f"codebook size K must be in 2..{MAX_K}")
        if not 1 <= s["M"] <= s["K"] or (s["mode"] == MODES["i2v"] and not 1 <= s["tail_atoms"] <= s["K"]):
            raise err("atoms M (and tail atoms) must be between 1 and K")
        if not 1 <= s["steps"] <= 200 or not 0 <= s["ode_tail"] < s["steps"]:
            raise err("steps must be 1..200 with fewer ODE tail steps than steps")
        if s["gop"] < 5 or (s["gop"] - 1) % TEMPORAL_FACTOR or s["gop"] > 257:
            raise err("GOP length must be 4k+1 frames (e.g. 9, 17, 33), between 5 and 257")
        if not 0 <= s["seed"] < 1 << 32 or not 0 < s["shift"] <= 100 or not 0 <= s["g"] <= 100 or s["tail_residual"] not in (0, 1):
            raise err("seed, shift, g or tail-residual flag out of range")

    @staticmethod
    def _layout(s: dict, n_frames: int) -> tuple[int, int, int]:
        """(latent frames per GOP, GOP stride in frames, number of GOPs)."""
        lat = (s["gop"] - 1) // TEMPORAL_FACTOR + 1
        stride = s["gop"] if s["mode"] == MODES["t2v"] else s["gop"] - 1  # I2V/FLF2V share boundary frames
        n_gops = max(1, -(-(n_frames - (s["gop"] - stride)) // stride))
        return lat, stride, n_gops

    @staticmethod
    def _atoms_per_frame(s: dict, lat: int) -> list[int]:
        if s["mode"] == MODES["i2v"]:
            tail = min(TAIL_LATENT_FRAMES, lat - 1)
            return [s["M"]] * (lat - tail) + [s["tail_atoms"]] * tail
        return [s["M"]] * lat

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
        tail_atoms: int | None = None,
        tail_residual: bool | None = None,
        fps: float | None = None,
        device=None,
        **unused,
    ) -> bytes:
        """Compress a video (path, or uint8 frames (T, H, W, 3) with `fps`) into a .gcodec file."""
        if unused:
            raise InputError(f"option(s) not used by gvc: {', '.join(sorted(unused))}")
        mode = mode or "t2v"
        if mode not in MODES:
            raise InputError(f"gvc mode '{mode}' is not available in this version (available: {', '.join(MODES)})")
        if mode != "i2v" and (tail_atoms is not None or tail_residual):
            raise InputError("--tail-atoms and --tail-residual apply to the i2v mode")
        frames, fps = media.as_video(video, fps)
        n, h, w = frames.shape[:3]
        chosen = {P_MODE: MODES[mode], P_K: codebook_size, P_M: atoms, P_STEPS: steps, P_GOP: gop, P_SEED: seed,
                  P_TAIL_M: tail_atoms, P_TAIL_RES: None if tail_residual is None else int(bool(tail_residual))}
        defaults = self._settings(h, {})
        keys = {P_MODE: "mode", P_K: "K", P_M: "M", P_STEPS: "steps", P_GOP: "gop", P_SEED: "seed",
                P_TAIL_M: "tail_atoms", P_TAIL_RES: "tail_residual"}
        params = {k: v for k, v in chosen.items() if v is not None and v != defaults[keys[k]]}
        s = self._settings(h, params)
        self._check(s, InputError)
        spec = models.resolve(model, FAMILIES[s["mode"]])
        wan = load_wan(spec, device)
        header = container.Header(
            codec=INFO.id, model=models.header_model(spec), media=container.MEDIA_VIDEO,
            width=w, height=h, frames=n, fps_milli=int(round(fps * 1000)), params=params,
        )
        sections = []
        refs = None
        if s["mode"] != MODES["t2v"]:
            ref_files = [self._code_reference(frames[min(i, n - 1)], spec, device) for i in self._reference_frames(s, n)]
            sections.append((SEC_REF, _pack_blobs(ref_files)))
            refs = [_decode_reference(f, device) for f in ref_files]
        selections, tails, _ = self._run_gops(wan, s, n, refs, frames=frames)
        sections.insert(0, (SEC_ATOMS, codebook.pack_selections(selections, s["K"])))
        if s["tail_residual"]:
            sections.append((SEC_TAIL, _pack_blobs(tails)))
        return container.pack(header, sections)

    def _reference_frames(self, s: dict, n_frames: int) -> list[int]:
        """Source frames coded as images: I2V the first; FLF2V every GOP boundary (N GOPs → N+1 frames)."""
        _, stride, n_gops = self._layout(s, n_frames)
        return [0] if s["mode"] == MODES["i2v"] else [g * stride for g in range(n_gops + 1)]

    @staticmethod
    def _code_reference(first: np.ndarray, video_spec, device) -> bytes:
        """The I2V reference frame, coded with our image codec (a nested .gcodec, counted in the file)."""
        import gencodec

        image_model = "tiny" if isinstance(video_spec, models.ModelSpec) and video_spec.tiny else None
        return gencodec.encode(first, codec="sd-latent", model=image_model, device=device)

    def target_latents(self, frames: np.ndarray, wan, gop: int = DEFAULT_GOP, mode: str = "t2v") -> list[torch.Tensor]:
        """What the encoder steers towards: each padded GOP's normalised VAE latent, as (F, C, h, w)."""
        s = {**self._settings(frames.shape[1], {}), "gop": gop, "mode": MODES[mode]}
        return [self._to_sampler(wan.encode_video(chunk)) for chunk in self._gops(frames, s)]

    def _gops(self, frames: np.ndarray, s: dict):
        """Padded GOPs: sides to a multiple of 16, the last GOP filled by repeating the last frame."""
        _, stride, n_gops = self._layout(s, len(frames))
        frames = media.pad_frames(frames, GRID)
        need = (n_gops - 1) * stride + s["gop"]
        if len(frames) < need:
            frames = np.concatenate([frames, np.repeat(frames[-1:], need - len(frames), axis=0)])
        for g in range(n_gops):
            yield frames[g * stride : g * stride + s["gop"]]

    @staticmethod
    def _to_sampler(z: torch.Tensor) -> torch.Tensor:
        return z.permute(1, 0, 2, 3).contiguous().to(torch.float32)  # (C, F, h, w) → (F, C, h, w): one codebook per frame

    # ------------------------------------------------------------ the GOP loop (encoder and decoder)

    def _run_gops(self, wan, s: dict, n_frames: int, refs: list[np.ndarray] | None, *, frames=None, selections=None, tails=None,
                  height: int | None = None, width: int | None = None):
        """Encode (frames given) or decode (selections given) every GOP; returns (selections, tails, latents).

        The encoder runs exactly the decoder's computation, so I2V hand-over frames are the decoded ones.
        """
        lat, _, n_gops = self._layout(s, n_frames)
        per_frame = self._atoms_per_frame(s, lat)
        sde_steps = s["steps"] - s["ode_tail"]
        targets = self._gops(frames, s) if frames is not None else None
        if frames is not None:
            height, width = frames.shape[1:3]
        lat_shape = (lat, 16, -(-height // GRID) * PATCH, -(-width // GRID) * PATCH)
        chosen, tail_blobs, latents = [], [], []
        ref = refs[0] if refs else None
        for g in tqdm(range(n_gops), desc="GOPs", disable=None):
            condition = None
            if s["mode"] == MODES["i2v"]:
                condition = wan.i2v_condition(media.pad_to_multiple(ref, GRID), s["gop"])
            elif s["mode"] == MODES["flf2v"]:
                condition = wan.i2v_condition(media.pad_to_multiple(refs[g], GRID), s["gop"], media.pad_to_multiple(refs[g + 1], GRID))
            if targets is not None:
                target = self._to_sampler(wan.encode_video(next(targets)))
                z, sel = self._sample(wan, s, g, lat_shape, per_frame, condition, target=target)
                chosen += [x for step in sel for x in step]
                if s["tail_residual"]:
                    blob, correction = _tail_residual(target[-1] - z[-1])
                    tail_blobs.append(blob)
                    z[-1] += correction.to(z.device)
            else:
                flat = selections[g * sde_steps * lat : (g + 1) * sde_steps * lat]
                replay = [flat[i * lat : (i + 1) * lat] for i in range(sde_steps)]
                z, _ = self._sample(wan, s, g, lat_shape, per_frame, condition, selections=replay)
                if s["tail_residual"]:
                    z[-1] += _read_tail_residual(tails[g], z.shape[1:]).to(z.device)
            latents.append(z)
            if s["mode"] == MODES["i2v"] and g + 1 < n_gops:
                ref = wan.decode_latent(z[-1:].permute(1, 0, 2, 3))[-1]  # the decoded last frame starts the next GOP
        return chosen, tail_blobs, latents

    @staticmethod
    def _sample(wan, s: dict, gop_index: int, shape, per_frame, condition=None, target=None, selections=None):
        gen = torch.Generator("cpu").manual_seed(s["seed"] * 1_000_003 + gop_index)
        # x_T: drawn on the CPU (same numbers everywhere), then moved; the codebook search runs on the model's device
        x_init = torch.randn(shape, generator=gen, dtype=torch.float32).to(wan.device)

        def velocity(x, t):
            return wan.velocity(x.permute(1, 0, 2, 3), t, condition=condition).permute(1, 0, 2, 3).to(torch.float32)

        schedule = sampler.Schedule(steps=s["steps"], ode_tail=s["ode_tail"], shift=s["shift"], g=s["g"])
        return sampler.run(
            velocity, x_init, schedule, seed=s["seed"], K=s["K"], atoms_per_frame=per_frame,
            target=target, selections=selections, frame0=gop_index * shape[0], progress=f"GOP {gop_index + 1}",
        )

    # ------------------------------------------------------------ decode

    def read(self, data: bytes):
        """Parse a file, its index sets and side information (no model needed); every check happens here."""
        c = container.unpack(data)
        h = c.header
        if h.codec != INFO.id or h.media != container.MEDIA_VIDEO:
            raise FormatError("not a gvc video file")
        media.check_video_size(h.width, h.height, h.frames)
        s = self._settings(h.height, h.params)
        self._check(s, FormatError)
        lat, _, n_gops = self._layout(s, h.frames)
        sde_steps = s["steps"] - s["ode_tail"]
        sels = codebook.unpack_selections(c.section(SEC_ATOMS), s["K"], self._atoms_per_frame(s, lat) * (n_gops * sde_steps))
        tails = _unpack_blobs(c.section(SEC_TAIL), n_gops) if s["tail_residual"] else None
        if s["mode"] != MODES["t2v"]:
            _unpack_blobs(c.section(SEC_REF), len(self._reference_frames(s, h.frames)))
        return c, s, sels, tails

    @torch.no_grad()
    def decode(self, data: bytes, *, steps: int | None = None, device=None, model: str | None = None, **unused) -> np.ndarray:
        """A .gcodec file → uint8 frames (T, H, W, 3) at the source size (fps: `gencodec.info`)."""
        if unused:
            raise InputError(f"option(s) not used by gvc: {', '.join(sorted(unused))}")
        if steps is not None:
            raise InputError("gvc decodes with the steps it was encoded with (--steps is an encode option)")
        c, s, _, _ = self.read(data)  # every check before a model is loaded
        h = c.header
        spec = models.from_header(h.model) if model is None else models.resolve(model, FAMILIES[s["mode"]])
        if models.force_tiny():
            spec = models.resolve(None, FAMILIES[s["mode"]])
        wan = load_wan(spec, device)
        latents = self.decode_latents(data, wan, device)
        out = [wan.decode_latent(z.permute(1, 0, 2, 3)) for z in latents]
        if s["mode"] != MODES["t2v"]:
            out = [out[0]] + [clip[1:] for clip in out[1:]]  # boundary frames are shared
        frames = np.concatenate(out)[: h.frames, : h.height, : h.width]
        return np.ascontiguousarray(frames)

    def decode_latents(self, data: bytes, wan, device=None) -> list[torch.Tensor]:
        """Replay the sampler per GOP: the decoded latents (F, C, h, w), before the VAE."""
        c, s, sels, tails = self.read(data)
        refs = None
        if s["mode"] != MODES["t2v"]:
            count = len(self._reference_frames(s, c.header.frames))
            refs = [_decode_reference(f, device) for f in _unpack_blobs(c.section(SEC_REF), count)]
        _, _, latents = self._run_gops(wan, s, c.header.frames, refs, selections=sels, tails=tails,
                                       height=c.header.height, width=c.header.width)
        return latents

    def describe(self, c: container.Container) -> dict:
        s = self._settings(c.header.height, c.header.params)
        out = {
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
        if s["mode"] == MODES["i2v"]:
            out.update(tail_atoms=s["tail_atoms"], tail_residual=bool(s["tail_residual"]))
        return out


# ---------------------------------------------------------------- side information


def _decode_reference(ref_file: bytes, device) -> np.ndarray:
    import gencodec

    try:
        return gencodec.decode(ref_file, device=device)
    except FormatError as exc:
        raise FormatError(f"corrupt reference frame: {exc}") from None


def _tail_residual(residual: torch.Tensor) -> tuple[bytes, torch.Tensor]:
    """Per-channel max-abs 8-bit quantisation of a latent frame's residual (C, h, w), range coded."""
    r = residual.double().cpu()
    peak = r.abs().amax(dim=(1, 2)).clamp_min(1e-8)
    scale = (peak / 127.0).to(torch.float16).to(torch.float64).clamp_min(1e-8)  # what the decoder will read
    q = torch.round(r / scale[:, None, None]).clamp(-127, 127).to(torch.int64)
    blob = scale.to(torch.float16).numpy().tobytes() + entropy.encode_grid(q.numpy())
    return blob, (q.double() * scale[:, None, None]).to(residual.dtype)


def _read_tail_residual(blob: bytes, shape) -> torch.Tensor:
    ch = shape[0]
    if len(blob) < 2 * ch:
        raise FormatError("corrupt tail residual")
    scale = torch.from_numpy(np.frombuffer(blob[: 2 * ch], np.float16).astype(np.float64))
    if not bool(torch.isfinite(scale).all()):
        raise FormatError("corrupt tail residual")
    q = torch.from_numpy(entropy.decode_grid(blob[2 * ch :], tuple(shape)))
    if q.abs().max() > 127:
        raise FormatError("corrupt tail residual")
    return (q.double() * scale[:, None, None]).float()


def _pack_blobs(blobs: list[bytes]) -> bytes:
    out = bytearray()
    for b in blobs:
        container.write_uvarint(out, len(b))
        out += b
    return bytes(out)


def _unpack_blobs(data: bytes, count: int) -> list[bytes]:
    r = container.Reader(data, "tail residuals")
    blobs = [r.take(r.uvarint(limit=r.remaining)) for _ in range(count)]
    if r.remaining:
        raise FormatError("corrupt tail residuals: trailing bytes")
    return blobs
