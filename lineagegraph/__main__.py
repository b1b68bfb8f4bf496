"""``python -m lineagegraph`` runs the command line."""

import sys

from lineagegraph.cli import main

sys.exit(main())
