"""`python -m service.inference.onnx_export WEIGHTS.pth [--detector DETECTOR.pth]`: the served
networks as one ONNX graph, written to stdout, for service/inference/onnx_predictor.py.

It runs in a child process of the service: torch's exporter leaves ~50 MB behind in the process
that runs it (its TorchScript machinery), which a worker would carry for its whole life. The graph
is traced from the torch predictor's own module (service/inference/predictor.py, BothNetworks), so
the .pth stays the one definition of the weights and nothing derived is committed. The TorchScript-based
exporter takes ~0.3 s; the newer torch.export-based one ~4 s per graph, and needs onnxscript.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import warnings
from pathlib import Path

import torch

from service.inference.predictor import BothNetworks
from training.checkpoint import ModelLoadError, load_checkpoint, load_detector
from training.model import IMAGE_SIZE


def export(networks: BothNetworks) -> bytes:
    example = torch.zeros(2, 1, IMAGE_SIZE, IMAGE_SIZE)
    with tempfile.TemporaryDirectory() as folder, warnings.catch_warnings():
        graph = Path(folder) / "networks.onnx"
        # It says it is deprecated in favour of torch.export's exporter: see the docstring.
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.onnx.export(
            networks.eval(),
            (example,),
            graph,
            input_names=["digits"],
            output_names=["outputs"],
            dynamic_axes={"digits": {0: "batch"}, "outputs": {0: "batch"}},
            dynamo=False,
        )
        return graph.read_bytes()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m service.inference.onnx_export")
    parser.add_argument("weights", type=Path, help="the classifier's .pth")
    parser.add_argument("--detector", type=Path, help="the not-a-digit detector's .pth")
    args = parser.parse_args(argv)
    cpu = torch.device("cpu")
    try:
        model, _ = load_checkpoint(args.weights, cpu)
        detector = load_detector(args.detector, cpu)[0] if args.detector else None
    except ModelLoadError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    sys.stdout.buffer.write(export(BothNetworks(model, detector)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
