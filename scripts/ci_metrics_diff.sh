#!/usr/bin/env bash
# Markdown comparing a base revision with this change: `kerasbench compare` (medians with 99%
# intervals, significance, asv marks), `dvc metrics diff` and `dvc params diff`, ready to post as a
# pull-request comment. Any CI can call it; .github/workflows/metrics-diff.yml does.
#
#   scripts/ci_metrics_diff.sh [--no-run] [--head REV] [--budget 10m | --rounds N] [--fail-on-regression]
#                              [--fail-on-undecided] [-S key=value]... BASE OUT.md
#
# Default: run and compare. BASE and HEAD (or --head REV) are each checked out into a temporary git
# worktree and the pipeline runs there as a DVC experiment with the same small configuration,
#   dvc exp run -S data.source=synthetic -S data.synthetic.train=1000 ... (see SMALL below; -S adds/overrides),
# so both sides are measured on the same machine with the same settings; then
#   kerasbench compare <base experiment> <head experiment> --until-decided --budget B
# trains both experiments afresh, round after round in alternation (base, head, head, base, ...),
# until every comparison of interest is decided (`+`, `-`, `=` or `~`) or the budget B (--budget,
# default 10m) is spent (kerasbench/adaptive.py: the verdicts stay valid under this optional
# stopping), and posts the verdicts with the smallest change each could have seen; and
#   dvc metrics diff --md --all <base experiment> <head experiment>
# --rounds N instead runs the whole pipeline N times a side (interleaved head, base, base, head, ...)
# and compares the pooled experiments once (`compare --force <base rounds> <head rounds>`).
# (--force: both sides ran here, so a fingerprint that differs, e.g. the lock file, is the change itself).
# An override whose key a side's params.yaml does not have (e.g. `repeats` before it existed) is left
# out for that side, and the Markdown says so.
# Measuring BASE again (rather than diffing the metrics committed at BASE) is what makes the numbers
# comparable: committed results may come from another machine, the full data set or a GPU.
# The report also lists what the change commits: params (`dvc params diff BASE HEAD`, the committed
# params.yaml, without the overrides) and committed results (`dvc metrics diff BASE HEAD`, since
# metrics/ is tracked in git with cache: false).
#
# --no-run: run nothing; compare the metrics and params committed at BASE with the workspace
# (or with --head REV). Quick, and right when the workspace holds results produced on purpose.
# Here compare checks the machine fingerprints: results from another machine are marked `x`.
#
# --fail-on-regression: exit 1 when compare finds a figure worse beyond its factor (`+`, or newly
# failing), or when compare could not run at all (a gate that cannot decide does not pass), after
# writing the Markdown. The workflow sets it from the repository variable KERASBENCH_FAIL_ON_REGRESSION. --fail-on-undecided: exit 1 as well when a verdict is `?`.
#
# Run it with the project's environment active: the stages' `python` and `dvc` must be on PATH
# (a .venv/ in the repository is linked into the worktrees as well).
# The caller's workspace is never modified. Experiments and worktrees are removed on exit.
# Environment: DVC (the dvc command; default `dvc` on PATH), PYTHON (default `python`). Exit status:
# 0 done, 1 the head revision's pipeline (or any later round) failed (the Markdown says why) or, with --fail-on-regression,
# a regression or a compare that could not run, 2 bad usage or revision.
set -euo pipefail

# Four epochs per process. With --budget, the pipeline runs once a side (one process per contender)
# and the adaptive comparison adds processes as it needs them; with --rounds, five training
# processes per contender, side and round. Inference runs once per seed in the pipeline; the adaptive
# rounds train only, so inference figures are not among its verdicts.
SMALL=(data.source=synthetic data.synthetic.train=1000 data.synthetic.test=200
       data.limit_train=null data.limit_test=null 'seeds=[0]' train.epochs=4 evaluate.repeats=8)
SUMMARY=metrics/summary.json     # the headline table, when the pipeline writes it
MARKER='<!-- kerasbench-metrics-diff -->'

usage() { sed -n '5p' "$0" | sed 's/^# *//' >&2; exit 2; }
die() { echo "ci_metrics_diff: error: $*" >&2; exit 2; }
log() { echo "ci_metrics_diff: $*" >&2; }

adaptive=0 run=1 head_rev="" sets=() args=() fail_on_regression=0 fail_on_undecided=0 rounds="" budget=10m
while (($#)); do
  case $1 in
    --no-run) run=0; shift ;;
    --fail-on-regression) fail_on_regression=1; shift ;;
    --fail-on-undecided) fail_on_undecided=1; shift ;;
    --head) head_rev=${2:?--head needs a revision}; shift 2 ;;
    --rounds) rounds=${2:?--rounds needs a number}; shift 2
              [[ $rounds =~ ^[1-9][0-9]*$ ]] || die "--rounds expects a positive whole number, got '$rounds'" ;;
    --budget) budget=${2:?--budget needs a duration}; shift 2
              [[ $budget =~ ^([0-9]+h)?([0-9]+m)?([0-9]+s)?$ && -n $budget ]] \
                || die "--budget expects a duration such as 10m or 1h30m, got '$budget'" ;;
    -S|--set-param) sets+=("${2:?-S needs key=value}"); shift 2 ;;
    -h|--help) usage ;;
    -*) die "unknown option $1" ;;
    *) args+=("$1"); shift ;;
  esac
done
((${#args[@]} == 2)) || usage
base=${args[0]}
out=$(realpath -m "${args[1]}")

DVC=${DVC:-dvc}
PYTHON=${PYTHON:-python}
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)   # the checkout this script (and kerasbench/cli/compare.py) is in
command -v "$DVC" >/dev/null || die "dvc not found: install it or set DVC=/path/to/dvc"
[[ $DVC == */* ]] && DVC=$(realpath "$DVC")   # the worktrees run it from elsewhere
export DVC_NO_ANALYTICS=1 TF_CPP_MIN_LOG_LEVEL=2
cd "$(git rev-parse --show-toplevel)" || die "not inside a git repository"

base_sha=$(git rev-parse --verify --quiet "$base^{commit}") \
  || die "base revision '$base' not found (fetch it first, e.g. git fetch origin main; in CI check out with fetch-depth: 0)"
if [[ -n $head_rev ]]; then
  head_sha=$(git rev-parse --verify --quiet "$head_rev^{commit}") || die "head revision '$head_rev' not found"
fi

# Overrides: SMALL, then -S (a later value for the same key wins), in first-seen order.
if [[ -n $rounds ]]; then SMALL+=(repeats=5); else SMALL+=(repeats=1); rounds=1; adaptive=1; fi
declare -A value_of=()
keys=()
for kv in "${SMALL[@]}" "${sets[@]}"; do
  [[ $kv == *=* ]] || die "-S expects key=value, got '$kv'"
  key=${kv%%=*}
  [[ -v value_of[$key] ]] || keys+=("$key")
  value_of[$key]=$kv
done
# known_keys PARAMS KEY...: the keys (dotted) that PARAMS has, one per line.
known_keys() {
  "$PYTHON" - "$@" <<'PY'
import sys, yaml
doc = yaml.safe_load(open(sys.argv[1])) or {}
for key in sys.argv[2:]:
    node = doc
    for part in key.split("."):
        node = node.get(part, KeyError) if isinstance(node, dict) else KeyError
    if node is not KeyError:
        print(key)
PY
}

# Markdown helpers: a dvc table, or a sentence when it has no rows.
rows() { local n; n=$(grep -c '^|' <<<"$1" || true); echo $((n > 2 ? n - 2 : 0)); }
table_or() { if (($(rows "$1") > 0)); then printf '%s\n' "$1"; else printf '%s\n' "$2"; fi; }
# shellcheck disable=SC2016  # the backticks are Markdown, not a command
tail_block() { printf '<details><summary>%s</summary>\n\n```\n%s\n```\n\n</details>\n' "$1" "$(tail -n 40 "$2")"; }

tmp=$(mktemp -d)
exps=() worktrees=()
# shellcheck disable=SC2329  # called by the EXIT trap
cleanup() {
  for wt in "${worktrees[@]}"; do git worktree remove --force "$wt" >/dev/null 2>&1 || true; done
  git worktree prune >/dev/null 2>&1 || true
  if ((${#exps[@]})); then "$DVC" exp remove "${exps[@]}" >/dev/null 2>&1 || true; fi
  rm -rf "$tmp"
}
trap cleanup EXIT

# DVC commits experiments: give git an identity when the machine has none (clean CI runners).
if ! git config user.email >/dev/null; then
  export GIT_AUTHOR_NAME=kerasbench-ci GIT_AUTHOR_EMAIL=ci@kerasbench.invalid
  export GIT_COMMITTER_NAME=kerasbench-ci GIT_COMMITTER_EMAIL=ci@kerasbench.invalid
fi

# run_side NAME SHA: the pipeline at SHA in a worktree, as experiment NAME. 0 ran, 1 failed, 3 no pipeline.
# Overrides whose key SHA's params.yaml lacks are left out and listed in skipped[NAME].
declare -A skipped=()
run_side() {
  local name=$1 sha=$2 dir=$tmp/$1 start=$SECONDS key overrides=() known
  git worktree add --quiet --detach "$dir" "$sha"
  worktrees+=("$dir")
  [[ -d .venv && ! -e $dir/.venv ]] && ln -s "$PWD/.venv" "$dir/.venv"   # for stage commands that name .venv/
  [[ -f $dir/dvc.yaml ]] || { log "$name ($sha): no dvc.yaml, nothing to run"; return 3; }
  known=$(known_keys "$dir/params.yaml" "${keys[@]}") || die "cannot read $sha:params.yaml"
  for key in "${keys[@]}"; do
    if grep -qxF "$key" <<<"$known"; then overrides+=(-S "${value_of[$key]}"); else skipped[$name]+=" $key"; fi
  done
  if git for-each-ref --format='%(refname)' refs/exps | grep -q "/$name\$"; then
    "$DVC" exp remove "$name" >/dev/null   # a leftover of an interrupted run
  fi
  log "$name: running the pipeline at ${sha:0:7} (log: $tmp/$name.log)"
  # This runner's environment where DVC sees it (revisions from before kerasbench/fingerprint.py
  # had an always-changed stage instead).
  if (cd "$dir" && { [[ ! -f kerasbench/fingerprint.py ]] || "$PYTHON" -m kerasbench.fingerprint; } &&
      "$DVC" exp run --name "$name" "${overrides[@]}") >"$tmp/$name.log" 2>&1; then
    exps+=("$name")
    log "$name: done in $((SECONDS - start)) s"
  else
    log "$name: FAILED after $((SECONDS - start)) s; last lines:"
    tail -n 20 "$tmp/$name.log" >&2
    return 1
  fi
}

# compare_section BASE HEAD [ARGS]: compare's table, or its one-line error; sets regression=1 on a `+`,
# undecided=1 on a `?` (with --fail-on-undecided).
regression=0 undecided=0 compare_failed=0
compare_section() {
  local out code=0
  out=$(PYTHONPATH="$HERE${PYTHONPATH:+:$PYTHONPATH}" "$PYTHON" -m kerasbench compare "$@" --repo "$PWD" 2>"$tmp/compare.log") || code=$?
  md+=("### Speed and memory: \`kerasbench compare $*\`" ""
       "Medians ± half their 99% interval, the ratio head/base with its interval and the verdict (\`+\` \`-\` \`=\` \`~\` \`?\`, with the smallest change each could have seen); the legend is below the table." "")
  if ((code == 0)) || { ((code == 1)) && grep -q '^\*\*[0-9]* regression(s)\*\*\|undecided (`?`)' <<<"$out"; }; then
    md+=("$out" "")
    if grep -q '^\*\*[0-9]* regression(s)\*\*' <<<"$out"; then regression=1; fi
    if grep -q 'undecided (`?`)' <<<"$out"; then undecided=1; fi
  else   # bad input (2) or a crash: its last line says why
    out=$(cat "$tmp/compare.log")
    md+=("compare could not run: \`$(tail -n 1 <<<"$out")\`" "")
    compare_failed=1
  fi
}

md=("$MARKER")
status=0
if ((run)); then
  head_sha=${head_sha:-$(git rev-parse HEAD)}
  base_exp=ci-base-${base_sha:0:7} head_exp=ci-head-${head_sha:0:7}
  head_status=0; run_side "$head_exp" "$head_sha" || head_status=$?
  base_status=0   # base only when there is a head to compare it with
  if ((head_status == 0)); then run_side "$base_exp" "$base_sha" || base_status=$?; fi
  # Rounds 2..N, only when both sides ran: base first in even rounds (head, base, base, head, ...).
  base_rounds=$base_exp head_rounds=$head_exp ran_rounds=1 failed_round=""
  for ((r = 2; r <= rounds && head_status == 0 && base_status == 0; r++)); do
    if ((r % 2 == 0)); then sides=(base head); else sides=(head base); fi
    for which in "${sides[@]}"; do
      if [[ $which == base ]]; then name=$base_exp-r$r sha=$base_sha; else name=$head_exp-r$r sha=$head_sha; fi
      run_side "$name" "$sha" || { failed_round=$name; break; }
    done
    [[ -n $failed_round ]] && break   # compare the complete rounds only
    base_rounds+=",$base_exp-r$r" head_rounds+=",$head_exp-r$r" ran_rounds=$r
  done
  set_text=""
  for key in "${keys[@]}"; do
    kv=${value_of[$key]}
    [[ $kv =~ [][\ \'*?] ]] && kv="'$kv'"   # quoted as a shell would need it
    set_text+="${set_text:+ }-S $kv"
  done
  md+=("## Metrics: \`$base\` vs this change" ""
       "Base \`$base\` (${base_sha:0:7}) and head (${head_sha:0:7}) were both run here with the same small configuration:"
       "\`dvc exp run $set_text\` on $(nproc 2>/dev/null || echo '?') CPU core(s), $(uname -sm)."
       "$(if ((adaptive)); then echo "Each ran once; then \`compare --until-decided\` trained both afresh in alternating rounds within a budget of $budget, until its verdicts decided."; elif ((ran_rounds > 1)); then echo "They ran in $ran_rounds interleaved rounds (head, base, base, head, ...), which compare pools per side, so the runner's drift between sessions falls on both sides."; else echo "They ran once each (one round): a drift of the runner between the two sessions looks like a change; --rounds 2 or more interleaves them, --budget decides adaptively."; fi)"
       "Timing and memory on shared CI machines move by 20–30% between runs, and accuracy on synthetic images says nothing about CIFAR-10: the compare table below says which speed and memory changes are larger than that noise." "")
  for name in "$base_exp" "$head_exp"; do
    if [[ -n ${skipped[$name]:-} ]]; then
      md+=("> \`$name\` ran without the override(s) of${skipped[$name]}: its params.yaml has no such key." "")
    fi
  done
  if [[ -n $failed_round ]]; then
    md+=("> **Round $((ran_rounds + 1)) failed** (\`$failed_round\`), so compare uses the $ran_rounds complete round(s)." ""
         "$(tail_block "dvc exp run log ($failed_round, last lines)" "$tmp/$failed_round.log")" "")
    status=1
  fi
  if ((head_status == 1)); then
    md+=("**The pipeline failed at the head revision**, so there is nothing to compare." "" "$(tail_block "dvc exp run log (head, last lines)" "$tmp/$head_exp.log")")
    status=1
  elif ((head_status == 3)); then
    md+=("The head revision has no dvc.yaml: there is no pipeline to run.")
  else
    old=$base_exp
    if ((base_status == 3)); then
      old=$base_sha
      md+=("> The base revision has no pipeline (no dvc.yaml): every metric below is new." "")
    elif ((base_status == 1)); then
      old=$base_sha
      md+=("> **The pipeline failed at the base revision** with this configuration; the head is compared with the metrics *committed* at base instead, which may come from another configuration." "" "$(tail_block "dvc exp run log (base, last lines)" "$tmp/$base_exp.log")" "")
    fi
    if [[ $old != "$base_exp" ]]; then
      compare_section "$old" "$head_exp"
    elif ((adaptive)); then
      compare_section "$base_exp" "$head_exp" --until-decided --budget "$budget" --state "$tmp/until-decided"
    else
      compare_section "$base_rounds" "$head_rounds" --force
    fi
    if [[ -f $tmp/$head_exp/$SUMMARY ]]; then
      headline=$("$DVC" metrics diff --md --all "$old" "$head_exp" --targets "$SUMMARY")
      md+=("### Headline: \`$SUMMARY\` (medians and 99% intervals over seeds × repeats)" "" "$(table_or "$headline" "No summary metrics.")" "")
    fi
    all=$("$DVC" metrics diff --md --all "$old" "$head_exp")
    md+=("<details><summary>All metrics (<code>dvc metrics diff --all</code>, $(rows "$all") rows)</summary>" ""
         "$(table_or "$all" "No metrics.")" "" "</details>" "")
  fi
  head_label=${head_rev:-HEAD}   # revision names, not hashes, head the committed tables
  params=$("$DVC" params diff --md "$base" "$head_label")
  md+=("### Params changed by this change (committed \`params.yaml\`, without the CI overrides)" ""
       "$(table_or "$params" "No params changed.")" "")
  committed=$("$DVC" metrics diff --md "$base" "$head_label")
  md+=("### Results committed by this change (\`dvc metrics diff $base $head_label\`)" ""
       "$(table_or "$committed" "No committed metrics changed.")" "")
else
  head_args=() head_name="the workspace" summary_exists=0
  if [[ -n $head_rev ]]; then
    head_args=("$head_sha"); head_name="\`$head_rev\` (${head_sha:0:7})"
    git cat-file -e "$head_sha:$SUMMARY" 2>/dev/null && summary_exists=1
  else
    [[ -f $SUMMARY ]] && summary_exists=1
  fi
  md+=("## Metrics: \`$base\` vs $head_name" ""
       "No pipeline was run: these are the metrics committed at \`$base\` (${base_sha:0:7}) against those in $head_name." "")
  compare_section "$base" "${head_rev:-workspace}"
  if ((summary_exists)); then
    headline=$("$DVC" metrics diff --md --all "$base" "${head_args[@]}" --targets "$SUMMARY")
    md+=("### Headline: \`$SUMMARY\`" "" "$(table_or "$headline" "No summary metrics.")" "")
  fi
  all=$("$DVC" metrics diff --md --all "$base" "${head_args[@]}")
  md+=("### All metrics (\`dvc metrics diff --all\`)" "" "$(table_or "$all" "No metrics.")" "")
  params=$("$DVC" params diff --md "$base" "${head_args[@]}")
  md+=("### Params (\`dvc params diff\`)" "" "$(table_or "$params" "No params changed.")" "")
fi

mkdir -p "$(dirname "$out")"
printf '%s\n' "${md[@]}" >"$out.tmp.$$"
mv "$out.tmp.$$" "$out"
log "wrote $out"
if ((status == 0 && regression && fail_on_regression)); then
  log "compare found a regression (--fail-on-regression)"
  status=1
elif ((status == 0 && compare_failed && fail_on_regression)); then
  log "compare could not run, so no regression could be ruled out (--fail-on-regression)"
  status=1
elif ((status == 0 && undecided && fail_on_undecided)); then
  log "compare left a verdict undecided (--fail-on-undecided)"
  status=1
fi
exit "$status"
