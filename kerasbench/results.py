"""Where results are read from: a directory (the workspace) or a git revision.

Every stage output that holds a number is tracked in git (DVC outputs with `cache: false`), so a
commit, a branch or a DVC experiment carries its results. A tree answers two questions, whatever
it is: the text of a file (None when it is not there) and the file names in a folder. Readers on
top of it (`read_json`, `read_csv`) raise ResultsError with a message that names the file.

    tree = resolve("main", repo)        # a git revision, a DVC experiment name, or "workspace"
    tree.read_text("params.yaml")
    trees = resolve_side("base,base-2", repo)   # one side of a comparison in several rounds
"""
from __future__ import annotations

import copy
import functools
import io
import json
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import pandas as pd
from ruamel.yaml.error import YAMLError

from kerasbench.params import read_yaml

WORKSPACE = "workspace"


class ResultsError(RuntimeError):
    """A result file or revision is missing or malformed; the message names it (one line)."""


class Tree(Protocol):
    label: str

    def read_text(self, path: str) -> str | None: ...

    def names(self, folder: str) -> list[str]: ...


@dataclass(frozen=True)
class Directory:
    """Results in a folder on disk (paths are relative to `root`)."""
    root: Path
    label: str = WORKSPACE

    def read_text(self, path: str) -> str | None:
        file = self.root / path
        return file.read_text() if file.is_file() else None

    def names(self, folder: str) -> list[str]:
        path = self.root / folder
        return sorted(p.name for p in path.iterdir() if p.is_file()) if path.is_dir() else []


def git(repo: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    result = subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True)
    if check and result.returncode != 0:
        raise ResultsError(f"git {' '.join(args)}: {result.stderr.strip().splitlines()[-1:] or result.returncode}")
    return result


class Objects:
    """One `git cat-file --batch` process for many reads: the files and folder listings of many commits at
    the cost of one process, so that a long history (kerasbench/history.py) reads fast. Close it when done."""

    def __init__(self, repo: Path):
        self.process = subprocess.Popen(["git", "cat-file", "--batch"], cwd=repo, stdin=subprocess.PIPE,
                                        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)

    def get(self, spec: str) -> tuple[str, bytes] | None:
        """(type, content) of `<commit>:<path>`, or None when there is no such object."""
        if "\n" in spec:
            return None
        self.process.stdin.write(spec.encode() + b"\n")
        self.process.stdin.flush()
        header = self.process.stdout.readline().split()
        if len(header) != 3:   # "<spec> missing", "<spec> ambiguous"
            return None
        content = self.process.stdout.read(int(header[2]))
        self.process.stdout.read(1)   # the newline after each object
        return header[1].decode(), content

    def close(self) -> None:
        self.process.stdin.close()
        self.process.wait()


def tree_files(content: bytes) -> list[str]:
    """The names of the files (not sub-folders) in a raw git tree object: `<mode> <name>\\0<20-byte id>` each."""
    names, at = [], 0
    while at < len(content):
        space, nul = content.index(b" ", at), content.index(b"\0", at)
        if not content[at:space].startswith(b"4"):   # 40000: a sub-folder
            names.append(content[space + 1:nul].decode())
        at = nul + 21
    return sorted(names)


@dataclass(frozen=True)
class Revision:
    """Results as committed at one git commit, read with `git show` and `git ls-tree`, or through `objects`
    (one process for many reads) when given."""
    repo: Path
    sha: str
    label: str
    objects: Objects | None = field(default=None, compare=False, repr=False)

    def read_text(self, path: str) -> str | None:
        if self.objects is not None:
            found = self.objects.get(f"{self.sha}:{path}")
            return found[1].decode() if found and found[0] == "blob" else None
        result = git(self.repo, "show", f"{self.sha}:{path}", check=False)
        return result.stdout if result.returncode == 0 else None

    def names(self, folder: str) -> list[str]:
        if self.objects is not None:
            found = self.objects.get(f"{self.sha}:{folder.rstrip('/')}")
            return tree_files(found[1]) if found and found[0] == "tree" else []
        out = git(self.repo, "ls-tree", "--name-only", self.sha, "--", f"{folder.rstrip('/')}/").stdout
        return sorted(Path(line).name for line in out.splitlines() if line)


def experiments(repo: Path) -> dict[str, list[str]]:
    """DVC experiments by name (the last component of refs/exps/...), each with its commit(s)."""
    out = git(repo, "for-each-ref", "--format=%(refname) %(objectname)", "refs/exps").stdout
    found: dict[str, list[str]] = {}
    for line in out.splitlines():
        ref, sha = line.split()
        if ref.count("/") >= 3 and not ref.startswith("refs/exps/exec/"):
            # refs/exps/<baseline>/<name>; skips refs/exps/stash and DVC's own refs/exps/exec/EXEC_HEAD, ...
            found.setdefault(ref.rsplit("/", 1)[1], []).append(sha)
    return found


def resolve(spec: str, repo: Path) -> Tree:
    """`workspace`, a git revision (commit, branch, tag, HEAD~1), or a DVC experiment name."""
    repo = Path(repo)
    if not repo.is_dir():
        raise ResultsError(f"--repo {repo}: no such folder")
    top = git(repo, "rev-parse", "--show-toplevel", check=False)
    if spec == WORKSPACE:
        return Directory(Path(top.stdout.strip()) if top.returncode == 0 else repo)
    if top.returncode != 0:
        raise ResultsError(f"{repo} is not inside a git repository")
    repo = Path(top.stdout.strip())   # git pathspecs are relative to the working directory: use the top
    found = git(repo, "rev-parse", "--verify", "--quiet", "--end-of-options", spec, check=False)
    if found.returncode == 0:   # any revision git accepts (HEAD~1, a tag, :/message), peeled to its commit
        found = git(repo, "rev-parse", "--verify", "--quiet", f"{found.stdout.strip()}^{{commit}}", check=False)
    if found.returncode == 0:
        sha = found.stdout.strip()
        return Revision(repo, sha, sha[:7] if sha.startswith(spec.lower()) else f"{spec} ({sha[:7]})")
    shas = sorted(set(experiments(repo).get(spec, [])))
    if len(shas) > 1:
        raise ResultsError(f"'{spec}' names {len(shas)} DVC experiments ({', '.join(s[:7] for s in shas)}); "
                           "give one commit instead")
    if shas:
        return Revision(repo, shas[0], f"{spec} ({shas[0][:7]})")
    raise ResultsError(f"'{spec}' is neither a git revision, a DVC experiment (refs/exps) nor 'workspace'")


def resolve_side(spec: str, repo: Path) -> list[Tree]:
    """One side of a comparison: a spec as `resolve` takes it, or several joined by commas (rounds of
    one configuration). A spec that resolves whole is one tree, even if it holds a comma."""
    try:
        return [resolve(spec, repo)]
    except ResultsError:
        if "," not in spec:
            raise
    parts = [part.strip() for part in spec.split(",")]
    if not all(parts):
        raise ResultsError(f"'{spec}': an empty name between commas")
    trees = [resolve(part, repo) for part in parts]
    seen: dict[str, str] = {}
    for part, tree in zip(parts, trees):
        key = getattr(tree, "sha", WORKSPACE)
        if key in seen:
            raise ResultsError(f"'{spec}': '{seen[key]}' and '{part}' are the same results; a round counts once")
        seen[key] = part
    return trees


MISSING = object()   # get()'s default when "absent" must differ from a null value


def get(doc: dict, dotted: str, default=None):
    """A value by dotted key ("cpu.model"), or `default` when any part is absent: the one dotted-key
    lookup of the project."""
    value = doc
    for part in dotted.split("."):
        if not isinstance(value, dict) or part not in value:
            return default
        value = value[part]
    return value


def read_json(tree: Tree, path: str) -> dict | None:
    text = tree.read_text(path)
    if text is None:
        return None
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as err:
        raise ResultsError(f"{path}: not valid JSON ({err})") from None
    if not isinstance(doc, dict):
        raise ResultsError(f"{path}: expected a JSON object")
    return doc


def read_csv(tree: Tree, path: str, columns: tuple[str, ...]) -> pd.DataFrame | None:
    text = tree.read_text(path)
    if text is None:
        return None
    try:
        frame = pd.read_csv(io.StringIO(text))
    except (pd.errors.ParserError, pd.errors.EmptyDataError) as err:
        raise ResultsError(f"{path}: not a readable CSV file ({err})") from None
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ResultsError(f"{path}: missing column(s) {', '.join(missing)}; expected {','.join(columns)}")
    if frame.empty:
        raise ResultsError(f"{path}: no rows")
    return frame


def numeric(frame: pd.DataFrame | None, columns, where: str) -> pd.DataFrame | None:
    """The frame with these columns as numbers, or ResultsError naming the first cell that is not one."""
    if frame is None:
        return None
    for column in columns:
        values = pd.to_numeric(frame[column], errors="coerce")
        bad = values.isna() & frame[column].notna()
        if bad.any():
            row = int(bad.to_numpy().nonzero()[0][0])
            raise ResultsError(f"{where}: row {row + 1}, column {column}: {frame[column].iloc[row]!r} is not a number")
        frame = frame.assign(**{column: values})
    return frame


def read_params(tree: Tree) -> dict:
    """params.yaml as a plain mapping, without validation (older revisions had other keys)."""
    text = tree.read_text("params.yaml")
    if text is None:
        return {}
    try:
        return copy.deepcopy(_parsed_params(text))
    except YAMLError as err:
        raise ResultsError(f"params.yaml at {tree.label}: not valid YAML ({str(err).splitlines()[0]})") from None


@functools.lru_cache(maxsize=64)
def _parsed_params(text: str) -> dict:
    """One parse per distinct params.yaml: a history reads the same file at hundreds of commits."""
    doc = read_yaml(text)
    return doc if isinstance(doc, dict) else {}
