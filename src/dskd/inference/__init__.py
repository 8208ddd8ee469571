"""Probabilities for whole images of any size, from PyTorch or ONNX Runtime (`backends`)."""

from dskd.inference.probabilities import (
    FLIPS,
    TTA,
    TTA_TRANSFORMS,
    WINDOW_OVERLAP,
    check_window,
    frame_probabilities,
    predict_probabilities,
    run_network,
)

__all__ = ["TTA", "TTA_TRANSFORMS", "predict_probabilities", "frame_probabilities", "run_network",
           "check_window", "FLIPS", "WINDOW_OVERLAP"]
