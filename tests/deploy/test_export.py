"""ONNX export: dynamic batch/height/width, probabilities equal to PyTorch's, metadata."""

import numpy as np
import onnx
import pytest
import torch

from dskd.checkpoint import load_model
from dskd.data.synthetic import synth_angiogram
from dskd.deploy.export import ProbabilityNet, export_onnx
from dskd.errors import CheckpointError
from dskd.inference import frame_probabilities
from dskd.inference.backends import OnnxNet, TorchNet
from tests.model_files import torch_threads, write_random_checkpoint


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    with torch_threads(1):
        yield


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """A depth-4 checkpoint (multiple 16, as shipped models) and its ONNX export."""
    folder = tmp_path_factory.mktemp("export")
    checkpoint = write_random_checkpoint(folder / "model.pt", depth=4, width=4, seed=2, threshold=0.4)
    return checkpoint, export_onnx(checkpoint, folder / "model.onnx")


def _angiograms(batch, size, seed):
    rng = np.random.default_rng(seed)
    return [synth_angiogram(rng, size)[0] for _ in range(batch)]


def test_graph_declares_dynamic_batch_height_width(exported):
    _, path = exported
    graph = onnx.load(str(path)).graph
    for value in (graph.input[0], graph.output[0]):
        dims = [d.dim_param or d.dim_value for d in value.type.tensor_type.shape.dim]
        assert dims == ["batch", 1, "height", "width"]


@pytest.mark.parametrize("batch, size", [(1, 64), (3, 112)])
def test_onnx_and_pytorch_probabilities_agree(exported, batch, size):
    checkpoint, path = exported
    model, _, _ = load_model(checkpoint)
    images = _angiograms(batch, size, seed=size)
    stacked = torch.stack([torch.from_numpy((i - i.mean()) / i.std()) for i in images])[:, None]
    with torch.inference_mode():
        expected = ProbabilityNet(model).eval()(stacked)
    got = OnnxNet(path)(stacked)
    assert got.shape == (batch, 1, size, size)
    assert expected.std() > 0.05  # the comparison is between varied maps, not two constants
    assert float((got - expected).abs().max()) < 1e-4


def test_both_backends_agree_on_odd_sizes_through_the_shared_pipeline(exported):
    checkpoint, path = exported
    model, _, _ = load_model(checkpoint)
    torch_net, onnx_net = TorchNet(model), OnnxNet(path)
    for image in (_angiograms(1, 100, 5)[0][:77, :93], _angiograms(1, 64, 6)[0][:40]):
        a = frame_probabilities(torch_net, image)
        b = frame_probabilities(onnx_net, image)
        assert a.shape == image.shape and np.abs(a - b).max() < 1e-4


def test_metadata_carries_multiple_and_threshold(exported):
    _, path = exported
    net = OnnxNet(path)
    assert net.size_multiple == 16 and net.threshold == pytest.approx(0.4)
    assert net.metadata["config"]["model"]["depth"] == 4


def test_worker_threads_do_not_spin_between_runs_unless_asked(exported):
    _, path = exported

    def spinning(net):
        return net.session.get_session_options().get_session_config_entry("session.intra_op.allow_spinning")

    assert spinning(OnnxNet(path)) == "0"
    assert spinning(OnnxNet(path, spin_wait=True)) == "1"


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_loading_bad_onnx_files(tmp_path):
    with pytest.raises(CheckpointError, match="gone.onnx: ONNX model not found"):
        OnnxNet(tmp_path / "gone.onnx")
    (tmp_path / "junk.onnx").write_bytes(b"junk")
    with pytest.raises(CheckpointError, match="junk.onnx: not a loadable ONNX model"):
        OnnxNet(tmp_path / "junk.onnx")
    plain = torch.nn.Conv2d(1, 1, 1)
    torch.onnx.export(plain, (torch.zeros(1, 1, 4, 4),), str(tmp_path / "foreign.onnx"), dynamo=False)
    with pytest.raises(CheckpointError, match="foreign.onnx: no dskd metadata; export it with `dskd export`"):
        OnnxNet(tmp_path / "foreign.onnx")


# --- issue 12: the output is written whole or not at all ----------------------------------------

@pytest.fixture()
def small_checkpoint(tmp_path):
    return write_random_checkpoint(tmp_path / "small.pt", depth=2, width=4)


def _previous_model(tmp_path):
    previous = tmp_path / "model.onnx"
    previous.write_bytes(b"a previous good model")
    return previous


def test_a_failed_check_keeps_the_previous_model_and_leaves_no_file(small_checkpoint, tmp_path,
                                                                      monkeypatch, capsys):
    from dskd.cli import main

    previous = _previous_model(tmp_path)
    monkeypatch.setattr(OnnxNet, "__call__", lambda self, batch: torch.full_like(batch, 0.5))
    assert main(["export", str(small_checkpoint), "--out", str(previous)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"dskd: error: {previous}: not written: ONNX Runtime "
                                                "differs from PyTorch")
    assert previous.read_bytes() == b"a previous good model"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.onnx", "small.pt"]


def test_an_export_killed_between_graph_and_metadata_keeps_the_previous_model(small_checkpoint, tmp_path,
                                                                              monkeypatch):
    from dskd.cli import main
    from dskd.deploy import export

    previous = _previous_model(tmp_path)

    def interrupted(path, metadata):
        assert path.stat().st_size > 1000  # the graph is written, to the temporary file
        raise KeyboardInterrupt

    monkeypatch.setattr(export, "_attach_metadata", interrupted)
    assert main(["export", str(small_checkpoint), "--out", str(previous)]) == 130
    assert previous.read_bytes() == b"a previous good model"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.onnx", "small.pt"]


def test_export_replaces_an_existing_model_when_it_succeeds(small_checkpoint, tmp_path):
    previous = _previous_model(tmp_path)
    export_onnx(small_checkpoint, previous)
    assert OnnxNet(previous).size_multiple == 4
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.onnx", "small.pt"]
