"""Kubernetes: the same task script as an Indexed Job (one completion index per cell to run).

The pod runs the script with bash in the project's image (its entry point sets HOME, then runs
the command). Git credentials come from a Secret holding a `.git-credentials` file (git's
credential store format, https://USER:TOKEN@HOST), mounted read-only and named to git through
GIT_CONFIG_* variables; the DVC remote's credentials (e.g. AWS_ACCESS_KEY_ID,
AWS_SECRET_ACCESS_KEY) come from a second Secret as environment variables. Each index is
retried once (backoffLimitPerIndex: 1), like Slurm's --requeue.

Each pod asks for whole CPUs with requests equal to limits (and memory likewise): the Guaranteed QoS
class, which a node's static CPU manager policy turns into CPUs of its own, so two cells do not time
on the same cores. The node's name reaches the stages through the downward API.
"""
from __future__ import annotations

import re
import shutil
from pathlib import Path

import yaml

from kerasbench import files
from kerasbench.fanout import task
from kerasbench.fanout.grid import Cell
from kerasbench.fanout.repo import FanoutError, run

GIT_SECRET_DIR = "/var/run/secrets/kerasbench/git"
MEMORY = re.compile(r"[1-9][0-9]*(\.[0-9]+)?(Ki|Mi|Gi|Ti|k|M|G|T)?")   # a Kubernetes memory quantity


# An image reference (registry/name:tag or @sha256:digest) and a Secret's name (a DNS-1123 subdomain).
IMAGE = re.compile(r"[a-z0-9]+([._-][a-z0-9]+)*(:[0-9]+)?(/[a-z0-9]+([._-][a-z0-9]+)*)*"
                   r"(:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?(@sha256:[0-9a-f]{64})?")
SECRET = re.compile(r"[a-z0-9]([a-z0-9.-]{0,251}[a-z0-9])?")


def check_names(image: str, git_secret: str, dvc_secret: str, parallelism: int | None) -> None:
    """Every value written into the manifest, checked against what Kubernetes accepts."""
    if not IMAGE.fullmatch(image):
        raise FanoutError(f"--image {image!r}: not an image reference (registry/name:tag or name@sha256:...)", 2)
    for flag, name in (("--git-secret", git_secret), ("--dvc-secret", dvc_secret)):
        if not SECRET.fullmatch(name):
            raise FanoutError(f"{flag} {name!r}: a Secret's name is lower-case letters, digits, '-' and '.'", 2)
    if parallelism is not None and parallelism < 1:
        raise FanoutError(f"--parallelism {parallelism}: expected 1 or more", 2)


def check_resources(cpus: int, memory: str) -> None:
    if cpus < 1:
        raise FanoutError(f"--cpus {cpus}: expected a whole number of CPUs, 1 or more", 2)
    if not MEMORY.fullmatch(memory):
        raise FanoutError(f"--memory {memory!r}: expected a Kubernetes quantity such as 8Gi or 16000Mi", 2)


def job_name(grid_name: str, commit: str) -> str:
    """A valid Job name (DNS-1123 label, at most 63 characters; pods add a suffix)."""
    slug = re.sub(r"[^a-z0-9-]", "-", grid_name.lower()).strip("-")
    return f"fanout-{slug[:40].rstrip('-')}-{commit[:7]}"


def manifest(grid_name: str, grid_path: Path, origin: str, commit: str, cells: list[Cell], image: str,
             gpus: int | None = None, parallelism: int | None = None, git_secret: str = "kerasbench-git",
             dvc_secret: str = "kerasbench-dvc", cpus: int = 2, memory: str = "8Gi") -> dict:
    name = job_name(grid_name, commit)
    todo = " ".join(str(c.index) for c in cells)
    script = task.script(
        [f"# kerasbench fan-out of {grid_path}, grid {grid_name}, commit {commit}: one completion index per cell."],
        origin, commit, cells,
        f"TODO=({todo})  # completion index -> cell index\n"
        'INDEX="${TODO[${JOB_COMPLETION_INDEX:?not an Indexed Job}]}"',
        bin_dir=None, placement="exclusive")
    container = {
        "name": "cell",
        "image": image,
        "args": ["bash", "-c", script],
        "env": [{"name": "FANOUT_SCRATCH", "value": "/scratch"},
                {"name": "GIT_CONFIG_COUNT", "value": "1"},
                {"name": "GIT_CONFIG_KEY_0", "value": "credential.helper"},
                {"name": "GIT_CONFIG_VALUE_0", "value": f"store --file={GIT_SECRET_DIR}/.git-credentials"},
                {"name": "KERASBENCH_NODE_NAME", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}}],
        "envFrom": [{"secretRef": {"name": dvc_secret}}],
        "volumeMounts": [{"name": "scratch", "mountPath": "/scratch"},
                         {"name": "git-credentials", "mountPath": GIT_SECRET_DIR, "readOnly": True}],
    }
    whole = {"cpu": str(cpus), "memory": memory, **({"nvidia.com/gpu": gpus} if gpus else {})}
    container["resources"] = {"requests": dict(whole), "limits": dict(whole)}   # Guaranteed QoS
    labels = {"app.kubernetes.io/name": "kerasbench", "app.kubernetes.io/component": "fanout",
              "kerasbench/grid": re.sub(r"[^A-Za-z0-9_.-]", "_", grid_name)[:63]}
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name, "labels": labels},
        "spec": {
            "completionMode": "Indexed",
            "completions": len(cells),
            "parallelism": parallelism or len(cells),
            "backoffLimitPerIndex": 1,
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "restartPolicy": "Never",
                    "containers": [container],
                    "volumes": [{"name": "scratch", "emptyDir": {}},
                                {"name": "git-credentials", "secret": {"secretName": git_secret}}],
                },
            },
        },
    }


class _Literal(str):
    """A multi-line string written as a YAML block (|), so the script stays readable in the manifest."""


def _literal(dumper: yaml.SafeDumper, value: _Literal):
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style="|")


def write(path: Path, doc: dict) -> None:
    container = doc["spec"]["template"]["spec"]["containers"][0]
    container["args"][-1] = _Literal(container["args"][-1])
    dumper = type("Dumper", (yaml.SafeDumper,), {})
    dumper.add_representer(_Literal, _literal)
    files.write_text(path, yaml.dump(doc, Dumper=dumper, sort_keys=False, width=120))


def require() -> None:
    if shutil.which("kubectl") is None:
        raise FanoutError("--apply: kubectl not found; install it, or leave out --apply and run "
                          "kubectl apply -f on the written manifest elsewhere", 2)


def apply(path: Path) -> str:
    return run("kubectl", "apply", "-f", str(path)).stdout.strip()
