"""``python -m streamrec.stream.cli``: the same as the ``streamrec`` command."""

import sys

from streamrec.stream.cli.main import main

sys.exit(main())
