"""Inference: the model at run time. Loading once, warming up, dynamic batching and the forward pass;
torch lives here, HTTP does not (the api package turns these errors into answers)."""
