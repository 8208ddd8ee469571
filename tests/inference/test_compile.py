"""--compile: torch.compile of the network gives eager mode's probabilities, and a compiler that
cannot run is one line at load time."""

import shutil

import numpy as np
import pytest
import torch

from dskd.deploy.models import load_net
from dskd.errors import DskdError
from dskd.inference import frame_probabilities
from dskd.inference.backends import TorchNet
from tests.model_files import torch_threads, write_random_checkpoint


@pytest.mark.skipif(not (shutil.which("c++") or shutil.which("g++")),
                    reason="torch.compile needs a C++ compiler (apt install g++)")
def test_compiled_probabilities_equal_eager_ones(tmp_path):
    checkpoint = write_random_checkpoint(tmp_path / "m.pt", depth=2, width=4)
    image = np.random.default_rng(0).random((40, 40)).astype(np.float32)
    with torch_threads(1):
        eager, _, _ = load_net(checkpoint, amp=False)
        compiled = TorchNet(eager.model, channels_last=True, compile=True)
        assert np.abs(frame_probabilities(compiled, image) - frame_probabilities(eager, image)).max() < 1e-4


@pytest.mark.skipif(not (shutil.which("c++") or shutil.which("g++")),
                    reason="torch.compile needs a C++ compiler (apt install g++)")
def test_compile_in_bf16_leaves_the_relu_fusion_to_inductor(tmp_path):
    checkpoint = write_random_checkpoint(tmp_path / "m.pt", depth=2, width=4)
    image = np.random.default_rng(0).random((48, 40)).astype(np.float32)
    with torch_threads(1):
        net, _, _ = load_net(checkpoint, amp=True, compile=True)  # compiles at load, then this size
        assert net.autocast_dtype == torch.bfloat16 and net.input_dtype is None
        probabilities = frame_probabilities(net, image)
    assert probabilities.shape == image.shape and np.isfinite(probabilities).all()
    with pytest.raises(ValueError, match="exclude each other"):
        TorchNet(net.model, compile=True, fuse_relu=True)


def test_a_compile_failure_is_one_line_at_load(tmp_path, monkeypatch):
    checkpoint = write_random_checkpoint(tmp_path / "m.pt", depth=2, width=4)

    def broken(function, **_):
        def run(*args):
            inner = RuntimeError("InvalidCxxCompiler: No working C++ compiler found\nlong traceback")
            raise torch._dynamo.exc.BackendCompilerFailed(function, inner, None)
        return run

    monkeypatch.setattr(torch, "compile", broken)
    with pytest.raises(DskdError, match=r"^--compile: torch.compile failed \(.*InvalidCxxCompiler.*\); it"):
        load_net(checkpoint, compile=True)
    with pytest.raises(DskdError, match="drop --device, --precision bf16 and --compile"):
        load_net(tmp_path / "m.onnx", backend="onnxruntime", compile=True)
