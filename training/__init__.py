"""Training for the product's MNIST CNN: the model definition, data loading, the training loop and evaluation.

Importing this package (or `training.model`) needs only torch, so the inference service can share the one
definition of the network without pulling in torchvision, tqdm or matplotlib.
"""
