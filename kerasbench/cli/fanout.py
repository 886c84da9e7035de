"""Run an experiment grid on a cluster; results come back through git and the DVC remote.

    kerasbench fanout plan GRID
    kerasbench fanout submit GRID --engine slurm [--partition P] [--gpus-per-task N] [--time HH:MM:SS]
                                   [--shared] [--wait]
    kerasbench fanout submit GRID --engine kubernetes --image IMAGE [--gpus-per-task N] [--cpus N]
                                   [--memory 8Gi] [--apply]
    kerasbench fanout status GRID
    kerasbench fanout collect GRID [--out DIR]

Bad input (a grid problem, an uncommitted work tree, no remote) is one line per problem on
stderr and exit code 2, with nothing pushed or submitted. docs/cluster.md explains the flow.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from kerasbench import cli, files
from kerasbench.fanout import collect, kubernetes, repo, slurm
from kerasbench.fanout import grid as grids
from kerasbench.fanout import state as states
from kerasbench.fanout.repo import FanoutError


def _load(args) -> tuple[Path, grids.Grid]:
    root = repo.root()
    return root, grids.load(args.grid, root / "params.yaml")


def plan(args) -> int:
    root, grid = _load(args)
    print(f"grid {grid.name} ({args.grid}): {len(grid.cells)} cell(s), checked against {root / 'params.yaml'}")
    width = max(len(c.name) for c in grid.cells)
    print(f"{'cell':>4}  {'experiment':<{width}}  dvc exp run -S ...")
    for c in grid.cells:
        print(f"{c.index:>4}  {c.name:<{width}}  {' '.join(c.sets)}")
    return 0


def _check_idle(root: Path, grid: grids.Grid, commit: str) -> None:
    old = states.load(root, grid)
    if not old or old.get("commit") != commit or old.get("engine") != "slurm":
        return
    for job in sorted({e["job"] for e in old["cells"].values()}):
        active = slurm.queue(job)
        if active:
            raise FanoutError(f"job {job} of grid {grid.name} still has {len(active)} task(s) pending or running: "
                              f"wait for it (kerasbench fanout status {grid.path}) or cancel it "
                              f"(scancel {job}), then submit again", 2)


def _prepare(args) -> tuple[Path, grids.Grid, str, str, list[grids.Cell]]:
    """Every check first, then the pushes; the cells origin does not hold yet."""
    root, grid = _load(args)
    if args.engine == "slurm":
        slurm.check_time(args.time)
        slurm.check_partition(args.partition)
        slurm.require()
    elif not args.image:
        raise FanoutError("--engine kubernetes needs --image (the project's container image, e.g. "
                          "registry.example.org/kerasbench:1.0)", 2)
    else:
        kubernetes.check_resources(args.cpus, args.memory)
        kubernetes.check_names(args.image, args.git_secret, args.dvc_secret, args.parallelism)
        if args.apply:
            kubernetes.require()
    if args.container_exec is not None and (not args.container_exec.strip() or "\n" in args.container_exec):
        raise FanoutError("--container-exec: expected one line, e.g. 'apptainer exec --nv /shared/kerasbench.sif'", 2)
    if args.gpus_per_task is not None and args.gpus_per_task < 1:
        raise FanoutError(f"--gpus-per-task {args.gpus_per_task}: expected 1 or more", 2)
    repo.check_committed(root)
    branch, origin = repo.branch(root), repo.origin_url(root)
    remote = repo.default_dvc_remote(root)
    commit = repo.head(root)
    if args.engine == "slurm":
        _check_idle(root, grid, commit)
    print(f"grid {grid.name} ({args.grid}): {len(grid.cells)} cell(s) at commit {commit[:12]} (branch {branch})")
    repo.push(root, branch)
    print(f"pushed {branch} to origin ({origin}) and the DVC cache to remote '{remote}'")
    pushed = repo.pushed(root, commit)
    todo = [c for c in grid.cells if c.name not in pushed]
    print(f"origin already holds {len(grid.cells) - len(todo)} of {len(grid.cells)} experiment(s)")
    return root, grid, commit, origin, todo


def _wait(root: Path, grid: grids.Grid, job: str, cells: list[grids.Cell], poll_s: float) -> int:
    seen: dict[int, str] = {}
    start = time.monotonic()
    while True:
        queue = slurm.queue(job)
        for c in cells:
            now = queue.get(c.index, "finished")
            if seen.get(c.index) != now:
                print(f"[{time.monotonic() - start:6.0f} s] {job}_{c.index} {c.name}: {now}", flush=True)
                seen[c.index] = now
        if not queue:
            break
        time.sleep(poll_s)
    return status_of(root, grid, only={c.index for c in cells})


def submit(args) -> int:
    root, grid, commit, origin, todo = _prepare(args)
    if not todo:
        print(f"nothing to submit: every cell of {grid.name} is already pushed to origin for {commit[:12]}")
        return 0
    folder = states.folder(root, grid)
    if args.engine == "kubernetes":
        return _kubernetes(args, root, grid, commit, origin, todo, folder)
    log_dir = folder / "logs" / commit[:12]
    log_dir.mkdir(parents=True, exist_ok=True)
    script = folder / "job.sh"
    files.write_text(script, slurm.script(grid.name, grid.path, origin, commit, todo, log_dir,
                                          str(Path(sys.executable).parent), args.partition,
                                          args.gpus_per_task, args.time, args.container_exec, args.shared))
    job = slurm.submit(script, root)
    logs = {c.index: str((log_dir / f"cell-{c.index}.log").relative_to(root)) for c in todo}
    states.record(root, grid, commit, "slurm", job, todo, logs)
    print(f"submitted Slurm job {job}: {len(todo)} task(s), cells {','.join(str(c.index) for c in todo)}, "
          f"{'sharing nodes (--shared: results say so)' if args.shared else 'a node each (--exclusive)'}; "
          f"script {script.relative_to(root)}, logs {log_dir.relative_to(root)}/cell-<index>.log")
    if not args.wait:
        return 0
    return _wait(root, grid, job, todo, args.poll_s)


def _kubernetes(args, root, grid, commit, origin, todo, folder) -> int:
    doc = kubernetes.manifest(grid.name, grid.path, origin, commit, todo, args.image, args.gpus_per_task,
                              args.parallelism, args.git_secret, args.dvc_secret, args.cpus, args.memory)
    path = folder / "job.yaml"
    kubernetes.write(path, doc)
    name = doc["metadata"]["name"]
    print(f"wrote {path.relative_to(root)}: Indexed Job {name}, {len(todo)} completion(s)")
    if args.apply:
        print(kubernetes.apply(path))
        states.record(root, grid, commit, "kubernetes", name, todo, {})
    else:
        print(f"apply it with: kubectl apply -f {path.relative_to(root)}")
    return 0


def status_of(root: Path, grid: grids.Grid, only: set[int] | None = None) -> int:
    saved = states.load(root, grid)
    commit = saved["commit"] if saved else repo.head(root)
    cells = states.cell_states(root, grid, saved, repo.pushed(root, commit), slurm.queue)
    print(f"grid {grid.name} at commit {commit[:12]}:")
    print(states.table(cells))
    failed = [s for s in cells if s.state == "failed" and (only is None or s.cell.index in only)]
    return 1 if failed else 0


def status(args) -> int:
    root, grid = _load(args)
    status_of(root, grid)
    return 0


def collect_cmd(args) -> int:
    root, grid = _load(args)
    saved = states.load(root, grid)
    commit = saved["commit"] if saved else repo.head(root)
    pushed = repo.pushed(root, commit)
    ready = [c for c in grid.cells if c.name in pushed]
    missing = [c for c in grid.cells if c.name not in pushed]
    if not ready:
        raise FanoutError(f"origin holds none of the {len(grid.cells)} experiment(s) of {grid.name} for "
                          f"commit {commit[:12]}: see kerasbench fanout status {args.grid}")
    collect.pull(root, commit, [c.name for c in ready])
    print(f"pulled {len(ready)} of {len(grid.cells)} experiment(s) from origin (commit {commit[:12]})")
    for c in missing:
        print(f"not collected: cell {c.index} {c.name} (not pushed; see status)")
    for line in collect.overlap_lines(collect.overlaps(collect.windows(root, commit, ready))):
        print(line)
    out = args.out.resolve() if args.out else states.folder(root, grid) / "report"
    for line in collect.reports(root, grid, commit, ready, out):
        print(line)
    print()
    print(collect.exp_show(root, grid, commit, args.keep))
    return 0


def parser() -> argparse.ArgumentParser:
    p = cli.parser("fanout", __doc__)
    sub = p.add_subparsers(dest="command", required=True)
    plan_p = sub.add_parser("plan", help="print the cells and their experiment names; submits nothing")
    submit_p = sub.add_parser("submit", help="push, then submit one task per cell not yet pushed")
    status_p = sub.add_parser("status", help="each cell: pending, running, done (pushed) or failed")
    collect_p = sub.add_parser("collect", help="pull the experiments, write the combined report, show them")
    for s in (plan_p, submit_p, status_p, collect_p):
        s.add_argument("grid", type=Path, help="the grid file, e.g. grids/example.yaml")
    submit_p.add_argument("--engine", choices=("slurm", "kubernetes"), required=True)
    submit_p.add_argument("--partition", help="Slurm partition")
    submit_p.add_argument("--gpus-per-task", type=int, help="GPUs per cell (Slurm --gpus-per-task; "
                                                               "Kubernetes nvidia.com/gpu)")
    submit_p.add_argument("--time", help="Slurm time limit per task, HH:MM:SS")
    submit_p.add_argument("--container-exec", metavar="CMD",
                          help="Slurm: run the dvc steps through this prefix, e.g. 'apptainer exec --nv "
                               "/shared/kerasbench.sif' (docs/cluster.md; untested here)")
    submit_p.add_argument("--shared", action="store_true",
                          help="Slurm: let cells share nodes (default: --exclusive, a node each); the results "
                               "record it and the report warns")
    submit_p.add_argument("--cpus", type=int, default=2, help="Kubernetes: whole CPUs per cell, requests = limits "
                                                               "(default 2)")
    submit_p.add_argument("--memory", default="8Gi", help="Kubernetes: memory per cell, requests = limits "
                                                           "(default 8Gi)")
    submit_p.add_argument("--wait", action="store_true", help="Slurm: wait for the job; exit 1 if a cell failed")
    submit_p.add_argument("--poll-s", type=float, default=5.0, help="seconds between queue checks with --wait")
    submit_p.add_argument("--image", help="Kubernetes: the project's container image")
    submit_p.add_argument("--parallelism", type=int, help="Kubernetes: cells at a time (default: all)")
    submit_p.add_argument("--git-secret", default="kerasbench-git", help="Kubernetes: Secret with .git-credentials")
    submit_p.add_argument("--dvc-secret", default="kerasbench-dvc", help="Kubernetes: Secret with the DVC "
                                                                         "remote's credentials as variables")
    submit_p.add_argument("--apply", action="store_true", help="Kubernetes: kubectl apply the manifest")
    collect_p.add_argument("--out", type=Path, help="folder for the combined report (default .fanout/<grid>/report)")
    collect_p.add_argument("--keep", help="dvc exp show --keep REGEX (default: swept params, headline metrics)")
    plan_p.set_defaults(run=plan)
    submit_p.set_defaults(run=submit)
    status_p.set_defaults(run=status)
    collect_p.set_defaults(run=collect_cmd)
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return args.run(args)
    except grids.GridError as err:
        print(f"error: {err}".replace("\n", "\nerror: "), file=sys.stderr)
        return 2
    except FanoutError as err:
        print(f"error: {err}", file=sys.stderr)
        return err.code


if __name__ == "__main__":
    sys.exit(main())
