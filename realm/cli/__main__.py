"""``python -m realm.cli ...``: the ``realm`` command without its console script."""

import sys

from realm.cli import main

sys.exit(main())
