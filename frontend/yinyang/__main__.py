"""`python -m frontend.yinyang`: the Yin-Yang hardware-in-the-loop job (see the package)."""

import sys

from . import main

sys.exit(main())
