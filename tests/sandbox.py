"""Test helpers: interpreters that see this venv's packages with some taken away or relabelled (how the tests
show what happens when a contender's environment lacks a package or holds another version), and small
params.yaml files for throwaway pipelines."""
from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path


def shadow_venv(root: Path, drop: tuple[str, ...] = (), versions: dict[str, str] | None = None) -> Path:
    """A venv under `root` whose site-packages is this one's, minus the entries whose names start with
    one of `drop`, and with each `.dist-info` starting with a key of `versions` claiming that version.
    Returns its python."""
    site = Path(next(p for p in sys.path if p.endswith("site-packages")))
    shadow = root / "site"
    shadow.mkdir(parents=True)
    for entry in site.iterdir():
        name = entry.name.lower()
        if name.startswith(drop):
            continue
        relabel = next((v for prefix, v in (versions or {}).items()
                        if name.startswith(prefix) and name.endswith(".dist-info")), None)
        if relabel is None:
            (shadow / entry.name).symlink_to(entry)
            continue
        shutil.copytree(entry, shadow / entry.name)
        meta = shadow / entry.name / "METADATA"
        meta.write_text(re.sub(r"(?m)^Version: .*$", f"Version: {relabel}", meta.read_text(), count=1))
    venv = root / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    (next(venv.glob("lib/python*/site-packages")) / "shadow.pth").write_text(f"{shadow}\n")
    return venv / "bin" / "python"


def write_small_params(source: Path, dest: Path, frameworks: list[str], train_images: int, test_images: int,
                       epochs: int, evaluate_repeats: int, **train) -> Path:
    """`source`'s params.yaml with synthetic data of the given size, these contenders and a short
    training (`train` overrides more train.* keys), written to `dest`/params.yaml."""
    import yaml

    from kerasbench.params import read_yaml
    params = read_yaml((source / "params.yaml").read_text())
    params["data"].update(source="synthetic", md5=None, synthetic={"train": train_images, "test": test_images})
    params["frameworks"] = list(frameworks)
    params["train"].update(epochs=epochs, **train)
    params["evaluate"]["repeats"] = evaluate_repeats
    path = dest / "params.yaml"
    path.write_text(yaml.safe_dump(params, sort_keys=False))
    return path
