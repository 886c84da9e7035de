"""The report stage's parts, one job each: load (reading results), numbers (statistics per contender,
pairwise tests, summary.json), environment (devices, settings, warnings), figures (PNGs) and
markdown (tables and the Jinja2 template report.md.j2). stages/report.py is the DVC entry point."""
