#!/usr/bin/env python
"""Loss comparison in the paper's Table II layout (a recipe: the ``asd-tf compare`` command, asd_tf.commands.compare).

    python experiments/compare_losses.py --dataset dcase2022 --trials 5 --preset full --data /path/to/dcase2022
    python experiments/compare_losses.py --dataset dcase2023 --preset quick          # synthetic data
    make compare DATASET=dcase2022 DATA=/path TRIALS=5 PRESET=full
    asd-tf compare --dataset dcase2022 --trials 5 --preset full --data /path/to/dcase2022   # the same

Rerun the same command after a kill: finished runs are skipped, partial ones resume.
"""

import sys

from asd_tf.commands.compare import main

if __name__ == "__main__":
    sys.exit(main())
