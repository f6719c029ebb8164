"""``python -m asd_tf``: the ``asd-tf`` command (:func:`asd_tf.commands.main`)."""

import sys

from .commands import main

sys.exit(main())
