"""Frame retrieval quality of a memory and of the baselines on the same token budget.

Every method is scored the same way: a latent for each frame of the clip, compared with that
frame's own latent (MSE) and, through the same VAE decoder, with the source pixels (PSNR, SSIM).
Baselines that need no training live here: uniform keyframes (as many whole frames as the budget
holds, at reduced resolution if not even one fits; the nearest one answers) and the clip's mean
frame latent (a budget-free reference). The trained ablations (low-res only, large patchifier) are
memory models of another variant, scored with `retrieve_head`.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from .. import metrics
from .planner import PATCH
from .retrievers import frame_time
from .train import clip_memory


@torch.no_grad()
def retrieve_head(model, clip, frames: list[int] | None = None) -> torch.Tensor:
    """Latents of `frames` (default all) from the clip's memory by the one-step head."""
    frames = list(range(len(clip.targets))) if frames is None else frames
    memory, pos = clip_memory(model, clip)
    size = clip.targets.shape[-2:]
    out = [model.retrieve(memory, pos, clip.plan, frame_time(torch.tensor(frames[i : i + 32], dtype=torch.float32,
                                                                          device=model.device)), size, retriever="head")
           for i in range(0, len(frames), 32)]
    return torch.cat(out)


@torch.no_grad()
def retrieve_dit(model, clip, frames: list[int], *, steps: int = 20, seed: int = 0) -> torch.Tensor:
    memory, pos = clip_memory(model, clip)
    t0 = frame_time(torch.tensor(frames, dtype=torch.float32, device=model.device))
    return model.retrieve(memory, pos, clip.plan, t0, clip.targets.shape[-2:], steps=steps, seed=seed)


def keyframe_baseline(clip) -> torch.Tensor:
    """Uniform keyframes within the clip's token budget; each frame is answered by the nearest one."""
    z = clip.targets
    n, h, w = len(z), z.shape[-2] // PATCH, z.shape[-1] // PATCH
    pool = 1
    while (h // pool or 1) * (w // pool or 1) > clip.plan.tokens and pool < max(h, w):
        pool *= 2
    per_frame = max(1, h // pool) * max(1, w // pool)
    count = max(1, min(n, clip.plan.tokens // per_frame))
    keys = np.unique(np.round(np.linspace(0, n - 1, count)).astype(int))
    kept = z[keys]
    if pool > 1:
        small = F.adaptive_avg_pool3d(kept, (1, max(1, h // pool) * PATCH, max(1, w // pool) * PATCH))
        kept = F.interpolate(small[:, :, 0], size=z.shape[-2:], mode="nearest")[:, :, None]
    nearest = np.abs(np.arange(n)[:, None] - keys[None]).argmin(1)
    return kept[torch.from_numpy(nearest)]


def mean_frame_baseline(clip) -> torch.Tensor:
    return clip.targets.mean(0, keepdim=True).expand_as(clip.targets)


def score(model, clip, latents: torch.Tensor, frames: list[int] | None = None, pixels: bool = True) -> dict:
    """Latent MSE and pixel PSNR/SSIM per frame (the VAE decoder is shared by every method)."""
    frames = list(range(len(clip.targets))) if frames is None else frames
    target = clip.targets[frames].to(latents.device)
    mse = ((latents - target) ** 2).flatten(1).mean(1).cpu().numpy()
    out = {"frames": frames, "latent_mse": mse.tolist(), "mean_latent_mse": float(mse.mean())}
    if pixels:
        h, w = clip.frames.shape[1:3]
        decoded = model.decode_frame_latents(latents)[:, :h, :w]
        psnr = [metrics.psnr(clip.frames[f], decoded[i]) for i, f in enumerate(frames)]
        ssim = [metrics.ssim(clip.frames[f], decoded[i]) for i, f in enumerate(frames)]
        out.update(psnr=psnr, ssim=ssim, mean_psnr=float(np.mean(psnr)), mean_ssim=float(np.mean(ssim)))
        lpips = [metrics.lpips_distance(clip.frames[f], decoded[i]) for i, f in enumerate(frames[:1])]
        if lpips[0] is not None:  # only when LPIPS weights are on disk
            lpips += [metrics.lpips_distance(clip.frames[f], decoded[i]) for i, f in enumerate(frames) if i]
            out["mean_lpips"] = float(np.mean(lpips))
    return out
