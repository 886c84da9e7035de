"""kerasbench: the library behind the DVC stages in stages/ (params, contenders, model, measurement)."""
