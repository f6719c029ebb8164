"""The entry point of installs made before the commands package: ``asd-tf`` is now :func:`asd_tf.commands.main`.

An editable install keeps its generated ``asd-tf`` script (``from asd_tf.cli import main``)
until it is reinstalled; this module keeps that script working. New code imports
:mod:`asd_tf.commands`.
"""

import sys

from .commands import main  # noqa: F401

if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
