"""Imaging: pure functions from what a client sends (image files, pixel grids) to the 28×28 digits
the model reads. No HTTP and no torch: decode.py reads files, normalise.py does MNIST's normalisation,
errors.py names everything a client can get wrong."""
