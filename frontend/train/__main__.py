"""`python -m frontend.train JOB`: see the package."""

import sys

from . import main

sys.exit(main())
