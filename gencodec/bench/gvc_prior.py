"""GVC sampler on an exact Gaussian prior: MSE vs atoms M and the gap to the R-D bound D(R)."""

from __future__ import annotations

import time

from . import _common
from ._common import BenchError, log


def add_arguments(parser) -> None:
    parser.add_argument("--atoms", default="0,4,16,64,256", help="atom counts M to try (default 0,4,16,64,256)")
    parser.add_argument("--codebook-size", type=int, default=1024, help="K (default 1024)")
    parser.add_argument("--dim", type=int, default=1024, help="dimensions of the Gaussian (default 1024)")
    parser.add_argument("--targets", type=int, default=3, help="prior samples encoded per M (default 3)")


def run(args) -> dict:
    from ..video.prior_check import run_prior

    try:
        atoms = [int(a) for a in args.atoms.split(",")]
    except ValueError:
        raise BenchError("--atoms must be a comma-separated list of integers") from None
    settings = {"atoms": atoms, "K": args.codebook_size, "dim": args.dim, "targets": args.targets,
                "schedule": "20 steps = 17 SDE (atoms) + 3 ODE, shift 3, g 3"}
    result = _common.header("gvc_prior", "cpu", settings)
    rows = []
    for m in atoms:
        t0 = time.perf_counter()
        row = run_prior(m, args.codebook_size, args.dim, args.targets)
        row["seconds"] = time.perf_counter() - t0
        rows.append(row)
        log(f"[gvc_prior] M={m}: {row['bits']} bits, MSE {row['mse']:.4g}, bound {row['bound_mse']:.4g}, gap {row['gap_db']:.2f} dB")
    result["cases"] = rows
    return result


COLUMNS = [("M", "M"), ("bits", "bits"), ("bits/dim", "bits_per_dim"), ("MSE", "mse"), ("D(R)", "bound_mse"),
           ("gap dB", "gap_db"), ("s", "seconds")]


def markdown(result: dict) -> str:
    return _common.md_table(COLUMNS, result["cases"])
