"""Shared benchmark helpers: device handling, timing, peak memory, machine info, result files, tables."""

from __future__ import annotations

import datetime as _dt
import json
import os
import platform
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np


class BenchError(Exception):
    """A benchmark cannot run as asked (bad option, missing device); reported as one `error:` line."""


# ---------------------------------------------------------------- devices and timing


def resolve_device(device: str | None) -> str:
    import torch

    if device is None:
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        raise BenchError("--device cuda was asked for, but no CUDA GPU is available")
    return device


def sync(device) -> None:
    """Wait for queued GPU work, so wall-clock timings cover it (no-op on CPU)."""
    import torch

    if str(device).startswith("cuda"):
        torch.cuda.synchronize()


def now(device) -> float:
    sync(device)
    return time.perf_counter()


def median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


class PeakMemory:
    """Peak memory of a block: CUDA max_memory_allocated, or the process's peak RSS on CPU.

    On CPU the RSS is sampled every `interval` s by a thread (psutil; without psutil, the
    process-lifetime ru_maxrss is all there is, so the increase is only seen when the block
    sets a new lifetime peak). `increase` is peak − value at entry; `peak` is absolute.
    """

    def __init__(self, device, interval: float = 0.005):
        self.device = str(device)
        self.interval = interval
        self.peak = self.base = self.increase = 0
        self.method = ""
        self._stop = threading.Event()
        self._thread = None

    def __enter__(self):
        if self.device.startswith("cuda"):
            import torch

            sync(self.device)
            torch.cuda.reset_peak_memory_stats()
            self.base = torch.cuda.memory_allocated()
            self.method = "cuda-max-memory-allocated"
            return self
        rss = _rss_reader()
        if rss is not None:
            self.method = "rss-psutil-sampled"
            self.base = self.peak = rss()

            def sample():
                while not self._stop.wait(self.interval):
                    self.peak = max(self.peak, rss())

            self._thread = threading.Thread(target=sample, daemon=True)
            self._thread.start()
        else:
            self.method = "ru_maxrss"
            self.base = _maxrss()
        return self

    def __exit__(self, *exc):
        if self.device.startswith("cuda"):
            import torch

            sync(self.device)
            self.peak = torch.cuda.max_memory_allocated()
        elif self._thread is not None:
            self._stop.set()
            self._thread.join()
            self.peak = max(self.peak, _rss_reader()())
        else:
            self.peak = _maxrss()
        self.increase = max(0, self.peak - self.base)
        return False


def _rss_reader():
    try:
        import psutil
    except ImportError:
        return None
    proc = psutil.Process()
    return lambda: proc.memory_info().rss


def _maxrss() -> int:
    import resource

    kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return kib if sys.platform == "darwin" else kib * 1024  # bytes on macOS, KiB elsewhere


# ---------------------------------------------------------------- machine info and result files


def machine_info(device: str) -> dict:
    import torch

    info = {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "torch": torch.__version__,
        "numpy": np.__version__,
        "device": device,
        "device_name": None,
        "cpu_count": os.cpu_count(),
        "cpu_affinity": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "torch_threads": torch.get_num_threads(),
        "cpu_model": _cpu_model(),
        "ram_gib": None,
        "gpu_name": None,
        "gpu_memory_gib": None,
        "cuda": torch.version.cuda,
        "cudnn": None,
        "loadavg": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
        "git_commit": _git_commit(),
    }
    from importlib import metadata

    for pkg in ("diffusers", "transformers", "constriction", "psutil"):
        try:
            info[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            info[pkg] = None
    try:
        import psutil

        info["ram_gib"] = round(psutil.virtual_memory().total / 2**30, 1)
    except ImportError:
        pass
    if torch.cuda.is_available():
        props = torch.cuda.get_device_properties(0)
        info["gpu_name"] = props.name
        info["gpu_memory_gib"] = round(props.total_memory / 2**30, 1)
        info["cudnn"] = torch.backends.cudnn.version()
    info["device_name"] = info["gpu_name"] if device.startswith("cuda") else (info["cpu_model"] or platform.processor() or "cpu")
    return info


def _cpu_model() -> str | None:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or None


def _git_commit() -> str | None:
    try:
        root = Path(__file__).resolve().parents[2]
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, timeout=5)
        return out.stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        return None


def _jsonable(obj):
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, Path):
        return str(obj)
    return obj


def write_result(result: dict, out_dir, name: str, device: str) -> Path:
    """Write `<out_dir>/<name>-<device>.json` atomically; returns the path."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"{name}-{device}.json"
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    tmp.write_text(json.dumps(_jsonable(result), indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    os.replace(tmp, path)
    return path


def header(benchmark: str, device: str, settings: dict) -> dict:
    return {
        "benchmark": benchmark,
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "machine": machine_info(device),
        "settings": settings,
    }


# ---------------------------------------------------------------- inputs and tables


def synthetic_image(h: int, w: int, seed: int = 0) -> np.ndarray:
    """A deterministic photo stand-in: smooth gradients, a disc, a rectangle and mild texture."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    r = 128 + 90 * np.sin(xx / 37.0) * np.cos(yy / 53.0)
    g = 60 + 150 * (yy / max(h - 1, 1))
    b = 200 - 140 * (xx / max(w - 1, 1))
    img = np.stack([r, g, b], 2)
    disc = (yy - h * 0.55) ** 2 + (xx - w * 0.4) ** 2 < (min(h, w) * 0.22) ** 2
    img[disc] = [230, 200, 40]
    img[int(h * 0.1) : int(h * 0.3), int(w * 0.6) : int(w * 0.9)] = [20, 30, 160]
    img += rng.normal(0, 6, img.shape)
    return np.clip(img, 0, 255).astype(np.uint8)


def fmt(value, digits: int = 3) -> str:
    if value is None:
        return "–"
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if value == 0:
            return "0"
        if abs(value) >= 100:
            return f"{value:.0f}"
        if abs(value) < 0.1:
            return f"{value:.{digits}g}"  # small values keep their significant digits
        return f"{value:.{digits}f}".rstrip("0").rstrip(".")
    return str(value)


def md_table(columns: list[tuple[str, str]], rows: list[dict]) -> str:
    """Markdown table; columns are (heading, key) pairs."""
    lines = ["| " + " | ".join(h for h, _ in columns) + " |", "|" + "|".join("---" for _ in columns) + "|"]
    for row in rows:
        lines.append("| " + " | ".join(fmt(row.get(k)) for _, k in columns) + " |")
    return "\n".join(lines)


def mib(n) -> float | None:
    return None if n is None else n / 2**20
