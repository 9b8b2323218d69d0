"""RRDBNet: builds the network from a state dict's shapes or from an ncnn graph."""

import torch

from services.worker.models.ncnn_format import NcnnLayer
from services.worker.models.rrdb.arch import RRDBNet
from services.worker.models.state_dicts import load_checked, state_dict_from_ncnn

__all__ = ["RRDBNet", "rrdb_from_ncnn", "rrdb_from_state_dict"]

# conv_first, conv_body, conv_up1, conv_up2, conv_hr, conv_last around 15 convs per block.
_CONVS_OUTSIDE_BLOCKS = 6
_CONVS_PER_BLOCK = 15


def _build(first_conv: torch.Size, grow_conv: torch.Size, conv_count: int) -> RRDBNet:
    blocks, rest = divmod(conv_count - _CONVS_OUTSIDE_BLOCKS, _CONVS_PER_BLOCK)
    if rest or blocks < 1:
        raise ValueError(f"{conv_count} convolutions do not make an RRDBNet")
    return RRDBNet(first_conv[1], first_conv[1], first_conv[0], blocks, grow_conv[0])


def rrdb_from_state_dict(state: dict[str, torch.Tensor]) -> RRDBNet:
    conv_count = sum(1 for key in state if key.endswith(".weight"))
    net = _build(
        state["conv_first.weight"].shape, state["body.0.rdb1.conv1.weight"].shape, conv_count
    )
    return load_checked(net, state)  # type: ignore[return-value]


def rrdb_from_ncnn(layers: list[NcnnLayer]) -> tuple[RRDBNet, dict[str, torch.Tensor]]:
    convs = [layer for layer in layers if layer.type == "Convolution"]
    if len(convs) < _CONVS_OUTSIDE_BLOCKS + _CONVS_PER_BLOCK:
        raise ValueError("ncnn graph is too small for an RRDBNet")
    shapes = [torch.Size(conv.weights["weight"].shape) for conv in convs[:2]]
    net = _build(shapes[0], shapes[1], len(convs))
    return net, state_dict_from_ncnn(net, layers)
