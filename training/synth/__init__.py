"""Synthetic images for the not-a-digit detector: non-digits of many kinds, and digits drawn the same ways.

Every generator returns grayscale uint8 pictures, white ink on black, on canvases of varying size: the
service's own normalisation (service.imaging.normalise) turns them into what the models see. Each
kind has a `fit` variant (training and calibration) and a `held_out` variant made differently (other
fonts, other generator parameters, other seeds) for thresholds and the figures in the README.
"""
