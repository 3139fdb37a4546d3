"""``python -m phnet_cuda.cli``: the ``phnet`` command line (as the old module's ``__main__`` block)."""

import sys

from . import main

sys.exit(main())
