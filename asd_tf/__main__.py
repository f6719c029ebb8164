"""``python -m asd_tf``: the ``asd-tf`` command (:func:`asd_tf.cli.main`)."""

import sys

from .cli import main

sys.exit(main())
