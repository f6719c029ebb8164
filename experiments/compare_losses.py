#!/usr/bin/env python
"""Loss comparison in the paper's Table II layout (thin wrapper around asd_tf.experiments.compare).

    python experiments/compare_losses.py --dataset dcase2022 --trials 5 --preset full --data /path/to/dcase2022
    python experiments/compare_losses.py --dataset dcase2023 --preset quick          # synthetic data
    make compare DATASET=dcase2022 DATA=/path TRIALS=5 PRESET=full

Rerun the same command after a kill: finished runs are skipped, partial ones resume.
"""

import sys

from asd_tf.experiments.compare import main

if __name__ == "__main__":
    sys.exit(main())
