"""The inference microservice: FastAPI routes over a batched PyTorch predictor for the MNIST CNN."""
