"""``python -m hybridrec_jax.cli``: the same as the ``hybridrec`` command."""

import sys

from hybridrec_jax.cli import main

if __name__ == "__main__":
    sys.exit(main())
