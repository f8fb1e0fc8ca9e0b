"""``python -m importer_cli``: the same as the ``intercom-import`` console script."""

import sys

from importer_cli.main import main

sys.exit(main())
