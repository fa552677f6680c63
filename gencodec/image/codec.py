"""The SD-latent image codec: Bühlmann's faithful pipeline and our rate-controlled improved mode.

faithful: VAE latent (sample, seed 0) → 8-bit quantiser (step 0.18215) → 256-colour RGBA palette
          with Floyd–Steinberg dithering → zlib 9. Decode: palette lookup → PNDM at t = 31, 16, 1.
improved: VAE latent (posterior mean) → uniform quantiser with step Δ chosen by rate control →
          context-modelled range coding (entropy.encode_grid). Decode: DDIM from the timestep whose
          noise level matches the quantisation error Δ/√12.
Any size: images are padded to a multiple of 8 and cropped back.
"""

from __future__ import annotations

import zlib

import numpy as np
import torch

from .. import container, entropy, media, models, ratecontrol
from ..codecs import by_name
from ..errors import FormatError, InputError
from . import denoise, palette, quantize
from .sd import SPATIAL_FACTOR, load_sd

INFO = by_name("sd-latent")
MODE_FAITHFUL, MODE_IMPROVED = 0, 1
MODES = {"faithful": MODE_FAITHFUL, "improved": MODE_IMPROVED}
P_MODE, P_STEP, P_LATENT = 0, 1, 2
LATENT_SAMPLE, LATENT_MEAN = 0, 1
SEC_PALETTE, SEC_LATENT = 1, 2
PALETTE_BYTES = palette.MAX_COLORS * 4
STEP_CODE_RANGE = (-1024, 2304)  # Δ from 0.011 to 93 (raw latent units)
DEFAULT_IMPROVED_STEP_CODE = 0  # Δ = 0.18215, Bühlmann's step


class SDLatentCodec:
    name = "sd-latent"

    # ------------------------------------------------------------ encode

    def encode(
        self,
        image,
        *,
        model: str | None = None,
        mode: str | None = None,
        target_bytes: int | None = None,
        step_code: int | None = None,
        latent: str | None = None,
        device=None,
        **unused,
    ) -> bytes:
        """Compress an image (path, bytes, PIL or uint8 array) into a complete .gcodec file."""
        if unused:
            raise InputError(f"option(s) not used by sd-latent: {', '.join(sorted(unused))}")
        rgb = media.load_image(image)
        if mode is None:
            mode = "improved" if (target_bytes is not None or step_code is not None) else "faithful"
        if mode not in MODES:
            raise InputError(f"unknown mode '{mode}' (faithful or improved)")
        if mode == "faithful" and (target_bytes is not None or step_code is not None):
            raise InputError("faithful mode has a fixed size; use the improved mode for --target-bytes")
        if target_bytes is not None and target_bytes <= 0:
            raise InputError("--target-bytes must be positive")
        latent = latent or ("sample" if mode == "faithful" else "mean")
        if latent not in ("sample", "mean"):
            raise InputError("latent must be 'sample' or 'mean'")
        spec = models.resolve(model, INFO.family)
        sd = load_sd(spec, device)
        z = self.encode_latent(sd, rgb, sample=latent == "sample")
        return self.code_latent(z, spec, rgb.shape[:2], mode=mode, latent=latent, target_bytes=target_bytes, step_code=step_code)

    def code_latent(self, z: np.ndarray, spec, size: tuple[int, int], *, mode: str, latent: str,
                    target_bytes: int | None = None, step_code: int | None = None) -> bytes:
        """Latent → whole .gcodec file (the model-free half of encoding; benchmarks time it alone)."""
        header = container.Header(
            codec=INFO.id,
            model=models.header_model(spec),
            media=container.MEDIA_IMAGE,
            width=size[1],
            height=size[0],
            params={P_MODE: MODES[mode]},
        )
        if latent != ("sample" if mode == "faithful" else "mean"):
            header.params[P_LATENT] = LATENT_SAMPLE if latent == "sample" else LATENT_MEAN
        if mode == "faithful":
            return container.pack(header, [(SEC_PALETTE, faithful_payload(z))])
        if target_bytes is None:
            return self._pack_improved(header, z, DEFAULT_IMPROVED_STEP_CODE if step_code is None else step_code)
        return self._rate_control(header, z, target_bytes)

    @torch.no_grad()
    def encode_latent(self, sd, rgb: np.ndarray, sample: bool) -> np.ndarray:
        padded = media.pad_to_multiple(rgb, SPATIAL_FACTOR)
        x = torch.from_numpy(np.array(padded)).permute(2, 0, 1)[None].float().div(127.5).sub(1.0).to(sd.device)
        dist = sd.vae.encode(x).latent_dist
        z = dist.sample(generator=torch.Generator("cpu").manual_seed(0)) if sample else dist.mode()
        return z[0].float().cpu().numpy()

    def _pack_improved(self, header: container.Header, z: np.ndarray, code: int) -> bytes:
        if not STEP_CODE_RANGE[0] <= code <= STEP_CODE_RANGE[1]:
            raise InputError(f"step code must be in {STEP_CODE_RANGE}")
        header.params[P_STEP] = code
        q = quantize.uniform_quantize(z, quantize.step_from_code(code))
        return container.pack(header, [(SEC_LATENT, entropy.encode_grid(q))])

    def _rate_control(self, header: container.Header, z: np.ndarray, target: int) -> bytes:
        """Finest quantiser step whose whole file fits in `target` bytes (bisection on true file sizes)."""
        return ratecontrol.finest_fitting(lambda code: self._pack_improved(header, z, code), *STEP_CODE_RANGE, target,
                                          " for this image")[1]

    # ------------------------------------------------------------ decode

    def read(self, data: bytes) -> tuple[container.Container, np.ndarray]:
        """Parse a file and recover the quantised latent (no model needed); all checks happen here."""
        c = container.unpack(data)
        h = c.header
        if h.codec != INFO.id:
            raise FormatError("not an sd-latent file")
        media.check_image_size(h.width, h.height)  # decoder memory follows the declared size: same limit as uploads
        mode = h.params.get(P_MODE)
        lh, lw = -(-h.height // SPATIAL_FACTOR), -(-h.width // SPATIAL_FACTOR)
        if mode == MODE_FAITHFUL:
            z = read_faithful_payload(c.section(SEC_PALETTE), lh, lw)
        elif mode == MODE_IMPROVED:
            code = h.params.get(P_STEP, DEFAULT_IMPROVED_STEP_CODE)
            if not STEP_CODE_RANGE[0] <= code <= STEP_CODE_RANGE[1]:
                raise FormatError("corrupt file: quantiser step out of range")
            q = entropy.decode_grid(c.section(SEC_LATENT), (4, lh, lw))
            z = quantize.uniform_dequantize(q, quantize.step_from_code(code))
        else:
            raise FormatError(f"corrupt file: unknown sd-latent mode {mode}")
        return c, z

    @torch.no_grad()
    def decode(self, data: bytes, *, steps: int | None = None, device=None, model: str | None = None, **unused) -> np.ndarray:
        """A .gcodec file → uint8 RGB image of the original size."""
        if unused:
            raise InputError(f"option(s) not used by sd-latent: {', '.join(sorted(unused))}")
        if steps is not None and not 0 <= steps <= 50:
            raise InputError("--steps must be between 0 and 50")
        c, z = self.read(data)
        spec = models.from_header(c.header.model) if model is None else models.resolve(model, INFO.family)
        if models.force_tiny():
            spec = models.resolve(None, INFO.family)
        sd = load_sd(spec, device)
        return self.render(sd, c, self.denoise_latent(sd, c, z, steps))

    @torch.no_grad()
    def denoise_latent(self, sd, c: container.Container, z: np.ndarray, steps: int | None = None) -> torch.Tensor:
        """The few UNet steps: Bühlmann's PNDM schedule, or DDIM matched to the quantiser's error."""
        zt = torch.from_numpy(z)[None]
        if c.header.params[P_MODE] == MODE_FAITHFUL:
            return denoise.buehlmann_denoise(sd, zt, steps)
        step = quantize.step_from_code(c.header.params.get(P_STEP, DEFAULT_IMPROVED_STEP_CODE))
        return denoise.matched_denoise(sd, zt, step, 2 if steps is None else steps)

    @torch.no_grad()
    def render(self, sd, c: container.Container, zt: torch.Tensor) -> np.ndarray:
        """VAE decode, then crop the padding away: uint8 RGB of the original size."""
        img = sd.vae.decode(zt.to(sd.device, torch.float32)).sample[0]
        rgb = ((img.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).permute(1, 2, 0).cpu().numpy()
        return np.ascontiguousarray(rgb[: c.header.height, : c.header.width])

    def describe(self, c: container.Container) -> dict:
        mode = c.header.params.get(P_MODE)
        out = {"mode": {MODE_FAITHFUL: "faithful", MODE_IMPROVED: "improved"}.get(mode, "?")}
        if mode == MODE_IMPROVED:
            out["quantiser_step"] = round(quantize.step_from_code(c.header.params.get(P_STEP, 0)), 6)
        default_latent = LATENT_SAMPLE if mode == MODE_FAITHFUL else LATENT_MEAN
        out["latent"] = "sample" if c.header.params.get(P_LATENT, default_latent) == LATENT_SAMPLE else "mean"
        return out


def faithful_payload(z: np.ndarray) -> bytes:
    """Bühlmann's bytes: zlib-9 of palette (256×RGBA) followed by the index map."""
    q = quantize.buehlmann_quantize(z)
    pal = palette.fit_palette(q.reshape(-1, 4))
    idx = palette.dither(q, pal)
    full = np.zeros((palette.MAX_COLORS, 4), np.uint8)
    full[: len(pal)] = pal
    return zlib.compress(full.tobytes() + idx.tobytes(), 9)


def read_faithful_payload(payload: bytes, lh: int, lw: int) -> np.ndarray:
    expected = PALETTE_BYTES + lh * lw
    d = zlib.decompressobj()
    try:
        raw = d.decompress(payload, expected + 1)  # bounded: a zip bomb cannot inflate past the declared shape
    except zlib.error:
        raise FormatError("corrupt file: palette data does not decompress") from None
    if len(raw) != expected or not d.eof or d.unused_data:
        raise FormatError("corrupt file: palette data has the wrong size")
    pal = np.frombuffer(raw[:PALETTE_BYTES], np.uint8).reshape(-1, 4)
    idx = np.frombuffer(raw[PALETTE_BYTES:], np.uint8).reshape(lh, lw)
    return quantize.buehlmann_unquantize(pal[idx])
