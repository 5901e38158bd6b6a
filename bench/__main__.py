"""`python -m bench` (what `make bench` runs): see bench/README.md."""

import sys

from bench.cli import main

sys.exit(main())
