"""Benchmarks: `python -m gencodec.bench NAME [options]`, one module per benchmark.

Each module `gencodec/bench/<name>.py` (names not starting with `_`) exposes
`add_arguments(parser)`, `run(args) -> dict` and optionally `markdown(result) -> str`.
The dispatcher (`__main__.py`) adds the common options (`--out`, `--device`), writes the
result as JSON to `<out>/<name>-<device>.json` and prints the Markdown table.
"""
