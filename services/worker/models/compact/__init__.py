"""SRVGGNetCompact: builds the network from a state dict's shapes or from an ncnn graph."""

import torch

from services.worker.models.compact.arch import SRVGGNetCompact
from services.worker.models.ncnn_format import NcnnLayer
from services.worker.models.state_dicts import load_checked, state_dict_from_ncnn

__all__ = ["SRVGGNetCompact", "compact_from_ncnn", "compact_from_state_dict"]


def compact_from_state_dict(state: dict[str, torch.Tensor]) -> SRVGGNetCompact:
    """Hyper-parameters read off the shapes: body.0 is the first conv, the last body entry
    the conv whose output channels are 3 * upscale**2."""
    conv_keys = sorted(int(key.split(".")[1]) for key in state if key.endswith(".bias"))
    last = state[f"body.{conv_keys[-1]}.weight"]
    num_in_ch, num_feat = state["body.0.weight"].shape[1], state["body.0.weight"].shape[0]
    upscale = round((last.shape[0] / num_in_ch) ** 0.5)
    net = SRVGGNetCompact(num_in_ch, num_in_ch, num_feat, len(conv_keys) - 2, upscale)
    return load_checked(net, state)  # type: ignore[return-value]


def compact_from_ncnn(layers: list[NcnnLayer]) -> tuple[SRVGGNetCompact, dict[str, torch.Tensor]]:
    """The network and its state dict from a parsed ncnn graph."""
    convs = [layer for layer in layers if layer.type == "Convolution"]
    shuffles = [layer for layer in layers if layer.type == "PixelShuffle"]
    if len(convs) < 2 or len(shuffles) != 1:
        raise ValueError("ncnn graph is not an SRVGGNetCompact (convolutions + one PixelShuffle)")
    upscale = shuffles[0].int_param(0)
    num_in_ch = convs[0].weights["weight"].shape[1]
    net = SRVGGNetCompact(num_in_ch, num_in_ch, convs[0].int_param(0), len(convs) - 2, upscale)
    return net, state_dict_from_ncnn(net, layers)
