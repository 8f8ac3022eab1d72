"""`python -m monitor` is the `synthmon` command."""

import sys

from monitor.cli import main

sys.exit(main())
