"""`python -m gencodec.bench NAME [options]`: a small dispatcher over gencodec/bench/<name>.py.

Every benchmark module exposes `add_arguments(parser)` and `run(args) -> dict` (and optionally
`markdown(result) -> str`); the first line of its docstring is its help. The dispatcher adds
`--out DIR` and `--device`, writes `<out>/<name>-<device>.json` and prints the Markdown table.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys
import traceback
from pathlib import Path

from ..errors import GencodecError


def benchmark_names() -> list[str]:
    """Modules of this package that are benchmarks (private helpers start with `_`)."""
    here = Path(__file__).parent
    return sorted(m.name for m in pkgutil.iter_modules([str(here)]) if not m.name.startswith("_"))


def _summary(name: str) -> str:
    """First docstring line of a benchmark module, read without importing it (torch imports are slow)."""
    import ast

    path = Path(__file__).parent / f"{name}.py"
    try:
        doc = ast.get_docstring(ast.parse(path.read_text(encoding="utf-8"))) or ""
    except (OSError, SyntaxError):
        doc = ""
    return doc.strip().splitlines()[0] if doc.strip() else name


def build_parser(names: list[str] | None = None, load: str | None = None) -> argparse.ArgumentParser:
    """The parser; only the benchmark named `load` is imported (its options need the module)."""
    names = benchmark_names() if names is None else names
    parser = argparse.ArgumentParser(
        prog="python -m gencodec.bench",
        description="gencodec benchmarks. Results go to <out>/<name>-<device>.json and a Markdown table on stdout.",
    )
    sub = parser.add_subparsers(dest="benchmark", metavar="BENCHMARK", title="benchmarks")
    for name in names:
        p = sub.add_parser(name, help=_summary(name), description=_summary(name))
        p.add_argument("--out", default="bench-results", help="folder for the JSON result (default: bench-results/)")
        p.add_argument("--device", choices=("cpu", "cuda"), default=None, help="default: cuda if available, else cpu")
        p.add_argument("--debug", action="store_true", help="show tracebacks")
        if name == load:
            importlib.import_module(f"{__package__}.{name}").add_arguments(p)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    names = benchmark_names()
    chosen = next((a for a in argv if a in names), None)
    parser = build_parser(names, load=chosen)
    args = parser.parse_args(argv)
    if args.benchmark is None:
        parser.print_help()
        return 2
    from . import _common

    try:
        module = importlib.import_module(f"{__package__}.{args.benchmark}")
        args.device = _common.resolve_device(args.device)
        result = module.run(args)
        path = _common.write_result(result, args.out, args.benchmark, args.device)
    except (GencodecError, _common.BenchError) as exc:
        if args.debug:
            traceback.print_exc()
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
    if hasattr(module, "markdown"):
        print(module.markdown(result))
    print(f"wrote {path}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
