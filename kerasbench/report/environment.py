"""What each contender ran on and with which settings, as short labels, and the warnings at the top of the report.

Everything comes from the environment files: metrics/train/<fw>-<seed>.env.json (training) and
metrics/eval/<fw>-<seed>.env.json (evaluation). A label that differs between a contender's seeds
becomes 'mixed: a / b'.
"""
from __future__ import annotations

from kerasbench.report.load import Run, synthetic_flags
from kerasbench.report.text import DASH, escape
from kerasbench.results import get

# What jit_compile does on each backend; shown in the report and in the README.
JIT_MEANING = (
    "`jit_compile` does not mean the same on every backend. Keras 3 on JAX: `false` drops `jax.jit` "
    "entirely and runs op by op. Keras 3 on TensorFlow: `false` still runs `tf.function` graphs; only "
    "XLA is off. Keras 3 on torch: `true` means `torch.compile`. With `default` (Keras' `auto`), Keras 3 "
    "on TensorFlow turns XLA on when it sees a GPU; tf-keras leaves XLA off; keras-core on TensorFlow "
    "turns XLA on. The effective value recorded on the device each contender ran on is in the tables.")


def device_label(env: dict) -> str:
    """'cpu (Intel Xeon ...)' or 'gpu (NVIDIA H100 ...)'; files without device_name fall back to the GPU list."""
    device = env.get("device") or DASH
    name = env.get("device_name")
    if not name:
        gpus = env.get("gpus") or []
        name = gpus[0].get("name") if device == "gpu" and gpus else get(env, "cpu.model") if device == "cpu" else None
    return escape(f"{device} ({name})" if name else device)


def jit_state(run: Run) -> str:
    """The effective jit_compile, 'on' or 'off', as recorded on the device the run used."""
    jit = run.env.get("jit_compile") or {}
    return "on" if jit.get("effective", run.train.jit_compile) else "off"


def jit_label(run: Run) -> str:
    """'on (XLA)', 'off': the effective value and, when on, what it turned on."""
    meaning = (run.env.get("jit_compile") or {}).get("meaning")
    return f"on ({escape(meaning)})" if jit_state(run) == "on" and meaning else jit_state(run)


def deterministic_label(run: Run) -> str:
    value = run.env.get("deterministic", run.train.deterministic)
    return DASH if value is None else "on" if value else "off"


def peak_source(run: Run) -> str:
    return escape(run.env.get("gpu_peak_source") or DASH)


def chart_label(runs: list[Run], framework: str) -> str:
    """Two short lines under a bar: the contender, then its device and effective jit_compile."""
    own = [r for r in runs if r.framework == framework]
    devices = "/".join(dict.fromkeys(str(r.env.get("device") or "?") for r in own))
    jit = "/".join(dict.fromkeys(jit_state(r) for r in own))
    return f"{framework}\n{devices}, jit {jit}"


def per_contender(runs: list[Run], frameworks: list[str], label) -> dict[str, str]:
    """One label per contender; seeds that disagree give 'mixed: a / b'."""
    out = {}
    for fw in frameworks:
        values = list(dict.fromkeys(label(r) for r in runs if r.framework == fw))   # each label escapes its text
        out[fw] = values[0] if len(values) == 1 else "mixed: " + " / ".join(values)
    return out


def training_devices(runs: list[Run], frameworks: list[str]) -> dict[str, str]:
    return per_contender(runs, frameworks, lambda r: device_label(r.env))


def eval_devices(runs: list[Run], frameworks: list[str]) -> dict[str, str]:
    return per_contender(runs, frameworks, lambda r: device_label(r.eval_env))


def _groups(labels: dict[str, str]) -> str:
    by_value: dict[str, list[str]] = {}
    for fw, value in labels.items():
        by_value.setdefault(value, []).append(fw)
    return "; ".join(f"{value}: {', '.join(fws)}" for value, fws in by_value.items())


def setting_banners(runs: list[Run], frameworks: list[str]) -> list[str]:
    """One warning per setting that differs between contenders (or between a contender's runs)."""
    trained, evaluated = training_devices(runs, frameworks), eval_devices(runs, frameworks)
    deterministic = per_contender(runs, frameworks, deterministic_label)
    jit = per_contender(runs, frameworks, jit_state)
    dtype = per_contender(runs, frameworks, lambda run: escape(get(run.env, "precision.compute_dtype") or "float32"))
    checks = [  # (what differs, why it matters, label per contender, the distinct values)
        ("ran on different devices", "speed and memory figures of different devices are not comparable",
         {fw: f"train {trained[fw]}, evaluate {evaluated[fw]}" for fw in frameworks},
         set(trained.values()) | set(evaluated.values())),
        ("ran with different `deterministic` settings",
         "deterministic kernels are slower on a GPU, by a different amount per framework",
         deterministic, set(deterministic.values())),
        ("ran with different effective `jit_compile`",
         "these speed figures compare compiled with uncompiled training; set `train.jit_compile` to true or "
         "false to compare like with like, keeping in mind what it means per backend (see Speed)",
         jit, set(jit.values())),
        ("computed in different dtypes", "mixed precision changes speed and memory, by a different amount per "
         "framework and device", dtype, set(dtype.values())),
    ]
    lines = []
    for what, why, labels, distinct in checks:
        if len(distinct) > 1 or any("mixed: " in v for v in labels.values()):
            lines += [f"> **Warning: the contenders {what}** ({_groups(labels)}): {why}.", ""]
    return lines


def data_banners(runs: list[Run]) -> list[str]:
    flags = {r.name: synthetic_flags(r) for r in runs}
    synthetic = [name for name, f in flags.items() if any(f.values())]
    lines = []
    if synthetic:
        lines += ["> **SYNTHETIC DATA.** These results were produced on generated stand-in images, not on CIFAR-10 "
                  "(the `synthetic` flag is set in the results). Accuracy and F1 say nothing about LeNet-5 on "
                  "CIFAR-10; time and memory figures still describe the frameworks, for this data size.", ""]
    if (synthetic and len(synthetic) < len(flags)) or any(len(set(f.values())) > 1 for f in flags.values()):
        lines += [f"> **Warning: mixed data.** Only some results are flagged synthetic ({', '.join(synthetic)}); "
                  "rerun the pipeline so that every contender sees the same data.", ""]
    digests = {get(r.env, "data.sha256") for r in runs}
    if len(digests) > 1:
        lines += ["> **Warning: different data.** The contenders' results record different data checksums "
                  f"({', '.join(sorted(escape(d) for d in digests))}); they are not comparable.", ""]
    return lines


def text(env: dict, dotted: str) -> str:
    value = get(env, dotted)
    return DASH if value in (None, "", []) else escape(value)


def gpus(env: dict) -> str:
    listed = env.get("gpus") or []
    return escape("; ".join(f"{g.get('name')} ({g.get('memory_total_mib')} MiB, driver {g.get('driver')}, "
                            f"CUDA {g.get('cuda')})" for g in listed) or "none")


def threads(env: dict) -> str:
    found = env.get("threads") or {}
    shown = [f"{k}={v}" for k, v in found.items() if v is not None]
    return escape(", ".join(shown)) if shown else ("defaults (none set)" if found else DASH)


def machine_rows(first: dict[str, Run]) -> dict[str, dict[str, str]]:
    """Machine, data and lock: one row each, one value per contender (its first seed)."""
    def each(value) -> dict[str, str]:
        return {fw: value(run.env) for fw, run in first.items()}
    return {
        "platform": each(lambda e: text(e, "platform")),
        "CPU": each(lambda e: text(e, "cpu.model")),
        "cores (logical / physical)": each(lambda e: f"{text(e, 'cpu.logical_cores')} / "
                                                     f"{text(e, 'cpu.physical_cores')}"),
        "memory (GiB)": each(lambda e: text(e, "memory_total_gib")),
        "GPUs": each(gpus),
        "python": each(lambda e: text(e, "python")),
        "lock file SHA-256": each(lambda e: text(e, "lock_sha256")),
        "data source": each(lambda e: text(e, "data.source")),
        "data MD5": each(lambda e: text(e, "data.md5")),
        "data SHA-256": each(lambda e: text(e, "data.sha256")),
        "git commit": each(lambda e: text(e, "git_commit")),
    }


def contender_rows(first: dict[str, Run]) -> list[dict[str, str]]:
    return [{
        "contender": fw,
        "keras module": (f"{text(r.env, 'keras_module')} {text(r.env, 'keras_version')}" if r.env.get("keras_module")
                         else "none (the backend's own code)"),
        "backend": f"{text(r.env, 'backend')} {text(r.env, 'backend_version')}",
        "trained on": device_label(r.env),
        "evaluated on": device_label(r.eval_env),
        "jit_compile (param → effective)": f"{text(r.env, 'jit_compile.param')} → {jit_label(r)}",
        "deterministic": deterministic_label(r),
        "CPU threads": threads(r.env),
        "GPU peak source": peak_source(r),
    } for fw, r in first.items()]
