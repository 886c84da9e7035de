"""Fan an experiment grid out over a cluster and bring it back through git and a DVC remote.

grid        the grid file: parsing, validation against params.yaml, cells and their names
repo        git and DVC calls on the submitting repository (clean check, push, pushed experiments)
task        the per-cell entry point: one generated bash script, the same for every engine
slurm       submission of that script as one `sbatch --array` job, and the queue's view of it
kubernetes  the same script as an Indexed Job manifest
state       what was submitted (.fanout/<grid>/state.json) and each cell's state
collect     experiments pulled back, one combined report per group of cells, `dvc exp show`

The command line is kerasbench/cli/fanout.py; docs/cluster.md explains the whole flow.
"""
