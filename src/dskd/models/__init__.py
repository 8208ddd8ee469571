from dskd.models.unet import UNet, UNetOutput, build_model

__all__ = ["UNet", "UNetOutput", "build_model"]
