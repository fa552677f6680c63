"""Codebook speed: atom generation throughput, top-M selection per frame-step, index-set coding of a GOP.

Atoms are the counter-based Philox4x32-10 Gaussians of gencodec.codebook (reference torch path).
`select` scores all K atoms of one (step, frame) codebook against a residual of D values; the
default on CPU is K=1024 (reported also scaled linearly to 16384), on CUDA the GVC 720p size
K=16384, D=230,400. On CUDA the benchmark also checks that GPU atoms, selections and noise agree
with the CPU ones (the decoder may run on another device than the encoder).
"""

from __future__ import annotations

import time

import numpy as np

from . import _common
from ._common import BenchError, log, median

FULL_K = 16384


def add_arguments(parser) -> None:
    parser.add_argument("--K", type=int, default=None, help="atoms per codebook (default: 16384 on cuda, 1024 on cpu)")
    parser.add_argument("--M", type=int, default=64, help="atoms kept per frame-step (default 64)")
    parser.add_argument("--dim", type=int, default=230400, help="values per atom (default 230400 = 16×90×160, 720p)")
    parser.add_argument("--chunk", type=int, default=None, help="atoms scored at once (default: 64 MB of float64 atoms)")
    parser.add_argument("--repeats", type=int, default=2, help="timed runs per case, median reported (default 2)")
    parser.add_argument("--steps", type=int, default=17, help="frame-steps per GOP for the index-coding timing (default 17)")
    parser.add_argument("--frames", type=int, default=9, help="latent frames per GOP for the index-coding timing (default 9)")


def _timed(fn, device, repeats):
    times, out = [], None
    for _ in range(repeats):
        t0 = _common.now(device)
        out = fn()
        times.append(_common.now(device) - t0)
    return out, median(times)


def run(args) -> dict:
    import torch

    from .. import codebook as cb

    device = args.device
    K = args.K if args.K is not None else (FULL_K if device == "cuda" else 1024)
    if not 1 <= args.M <= K:
        raise BenchError("--M must be between 1 and K")
    if args.dim < 2 or args.repeats < 1:
        raise BenchError("--dim must be ≥ 2 and --repeats ≥ 1")
    settings = dict(K=K, M=args.M, dim=args.dim, chunk=args.chunk or cb._default_chunk(args.dim),
                    repeats=args.repeats, steps=args.steps, frames=args.frames)
    result = _common.header("codebook", device, settings)
    rows = []

    n_atoms = max(1, (1 << 24) // args.dim)  # ~16 M values
    cb.atoms(1, 0, 0, range(n_atoms), args.dim, device=device)  # warm-up
    for dtype in (torch.float32, torch.float64):
        _, t = _timed(lambda: cb.atoms(1, 0, 0, range(n_atoms), args.dim, device=device, dtype=dtype), device, args.repeats)
        rows.append({"case": f"atoms {str(dtype).split('.')[-1]}", "seconds": t, "mvalues_s": n_atoms * args.dim / t / 1e6})
        log(f"atoms {dtype}: {rows[-1]['mvalues_s']:.1f} M values/s")

    r = torch.from_numpy(np.random.default_rng(0).standard_normal(args.dim)).float().to(device)
    t0c = time.process_time()
    sel, t = _timed(lambda: cb.select(r, 42, 0, 0, K, args.M, chunk=args.chunk), device, args.repeats)
    cpu_s = (time.process_time() - t0c) / args.repeats
    rows.append({"case": f"select K={K}", "seconds": t, "cpu_seconds": cpu_s, "mvalues_s": K * args.dim / t / 1e6,
                 "seconds_at_16384": t * FULL_K / K})
    log(f"select: {t:.2f} s per frame-step")
    z, t = _timed(lambda: cb.combine(sel, 42, 0, 0, args.dim, device=device), device, args.repeats)
    rows.append({"case": f"combine M={args.M}", "seconds": t})

    rng = np.random.default_rng(0)
    n_sel = args.steps * args.frames
    sels = [cb.Selection(np.sort(rng.choice(K, args.M, replace=False)), rng.choice(np.array([-1, 1], np.int8), args.M))
            for _ in range(n_sel)]
    data, t_pack = _timed(lambda: cb.pack_selections(sels, K), "cpu", args.repeats)
    _, t_unpack = _timed(lambda: cb.unpack_selections(data, K, [args.M] * n_sel), "cpu", args.repeats)
    fixed = (n_sel * args.M * ((K - 1).bit_length() + 1) + 7) // 8
    rows.append({"case": f"pack {n_sel} selections", "seconds": t_pack, "bytes": len(data), "fixed_length_bytes": fixed})
    rows.append({"case": f"unpack {n_sel} selections", "seconds": t_unpack, "bytes": len(data)})

    if device == "cuda":
        ks = [0, 1, 77, K - 1, 2**31 + 5]
        a_cpu = cb.atoms(42, 3, 2, ks, args.dim)
        a_gpu = cb.atoms(42, 3, 2, ks, args.dim, device="cuda").cpu()
        words_cpu = cb.philox4x32(torch.arange(4096).view(1, -1), torch.tensor(ks).view(-1, 1), 3, 2, 42, 0)
        words_gpu = cb.philox4x32(torch.arange(4096, device="cuda").view(1, -1),
                                  torch.tensor(ks, device="cuda").view(-1, 1), 3, 2, 42, 0)
        small_k = min(K, 2048)
        s_cpu = cb.select(r.cpu(), 42, 0, 0, small_k, min(args.M, small_k))
        s_gpu = cb.select(r, 42, 0, 0, small_k, min(args.M, small_k))
        z_cpu = cb.combine(sel, 42, 0, 0, args.dim)
        result["cpu_vs_cuda"] = {
            "philox_words_equal": all(torch.equal(a, b.cpu()) for a, b in zip(words_cpu, words_gpu)),
            "atoms_bit_equal_fraction": (a_cpu == a_gpu).double().mean().item(),
            "atoms_max_abs_diff": (a_cpu - a_gpu).abs().max().item(),
            "atoms_max_rel_diff": ((a_cpu - a_gpu).abs() / a_cpu.abs().clamp_min(1e-3)).max().item(),
            f"select_equal_K{small_k}": s_cpu == s_gpu,
            "noise_max_abs_diff": (z.cpu() - z_cpu).abs().max().item(),
        }
        log(f"cpu vs cuda: {result['cpu_vs_cuda']}")
    result["rows"] = rows
    return result


def markdown(result: dict) -> str:
    cols = [("case", "case"), ("s", "seconds"), ("CPU s", "cpu_seconds"), ("M values/s", "mvalues_s"),
            ("s at K=16384", "seconds_at_16384"), ("bytes", "bytes"), ("fixed-length bytes", "fixed_length_bytes")]
    out = _common.md_table(cols, result["rows"])
    if "cpu_vs_cuda" in result:
        out += "\n\n" + "\n".join(f"- {k}: {v}" for k, v in result["cpu_vs_cuda"].items())
    return out
