"""`python -m kerasbench SUBCOMMAND ...`: the `kerasbench` command (kerasbench/cli/) without installing the package."""
import sys

from kerasbench.cli import main

sys.exit(main())
