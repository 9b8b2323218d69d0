"""Moving weights into a network with every shape checked, from a state dict or from ncnn.

ncnn stores a network's Convolution and PReLU weights in graph order, which for both
Real-ESRGAN architectures is also the order the PyTorch module registers its layers; the
mapping below relies on that and checks each shape so a reordering cannot pass silently.
"""

import torch
from torch import nn

from services.worker.models.ncnn_format import NcnnLayer

_NCNN_TYPES = {nn.Conv2d: "Convolution", nn.PReLU: "PReLU"}


def load_checked(module: nn.Module, state_dict: dict[str, torch.Tensor]) -> nn.Module:
    """Loads `state_dict` into `module`, refusing any missing, extra or misshapen tensor."""
    expected = module.state_dict()
    missing = sorted(set(expected) - set(state_dict))
    extra = sorted(set(state_dict) - set(expected))
    if missing or extra:
        raise ValueError(f"state dict mismatch: missing={missing[:5]} unexpected={extra[:5]}")
    for key, tensor in state_dict.items():
        got, wanted = tuple(tensor.shape), tuple(expected[key].shape)
        if got != wanted:
            raise ValueError(f"{key}: weights shaped {got}, network wants {wanted}")
    module.load_state_dict(state_dict, strict=True)
    return module.eval()


def state_dict_from_ncnn(module: nn.Module, layers: list[NcnnLayer]) -> dict[str, torch.Tensor]:
    """Pairs the module's Conv2d/PReLU layers with the graph's weighted layers, in order."""
    targets = [(name, m) for name, m in module.named_modules() if type(m) in _NCNN_TYPES]
    sources = [layer for layer in layers if layer.weights]
    if len(targets) != len(sources):
        raise ValueError(f"network has {len(targets)} weighted layers, ncnn graph {len(sources)}")
    state: dict[str, torch.Tensor] = {}
    for (name, target), source in zip(targets, sources, strict=True):
        if source.type != _NCNN_TYPES[type(target)]:
            raise ValueError(
                f"{name} is {type(target).__name__}, ncnn {source.name} is {source.type}"
            )
        for kind, array in source.weights.items():
            state[f"{name}.{kind}"] = torch.from_numpy(array)
    load_checked(module, state)
    return state
