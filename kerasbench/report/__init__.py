"""The report's parts, one job each: load (reading results), numbers (statistics per contender, pairwise
tests, summary.json), environment (devices, settings, warnings), interference, costs (what Keras
costs, time to target, compile cache), figures (PNGs), text (cell formatting), markdown (tables and the
Jinja2 template report.md.j2) and build (all of it, written safely). stages/report.py is the DVC entry point."""
