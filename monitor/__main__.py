"""`python -m monitor`: the `ingest-monitor` command."""

import sys

from monitor.operate.cli import main

sys.exit(main())
