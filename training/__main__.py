"""`python -m training`: train the CNN (see training/train.py for the flags)."""

import sys

from training.train import main

sys.exit(main())
