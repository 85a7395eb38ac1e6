"""`hxtorch`: the name under which users import hxemu's torch frontend.

Code written for the real hxtorch says `import hxtorch`; hxemu's canonical package is
`frontend`. This file makes `hxtorch` *the same module object* as `frontend` (one global state:
one connection, one mock parameter, one set of tracers), and `frontend` registers an import hook
so that every submodule (`hxtorch.perceptron.nn`, `hxtorch.ann`, ...) is the `frontend` module
as well, never a second copy. Like the original, `import hxtorch` configures logging (a stderr
appender on the root logger at WARN, hxtorch's loggers at INFO) unless `hxtorch.logger` has
configured it before.
"""

import sys

import frontend
from frontend import logger

sys.modules[__name__] = frontend
logger.bootstrap()  # as `import hxtorch` configures pylogging: WARN, and INFO for hxtorch
