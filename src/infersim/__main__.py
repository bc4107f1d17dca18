"""`python -m infersim`: the same as the `infersim` command."""

import sys

from .cli.app import main

sys.exit(main())
