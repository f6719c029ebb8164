"""``python -m asd_tf.commands``: the ``asd-tf`` command (:func:`asd_tf.commands.main`)."""

import sys

from . import main

sys.exit(main())
