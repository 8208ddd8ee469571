"""dskd: Deep Self-knowledge Distillation for coronary artery segmentation."""

__version__ = "0.1.0"
