"""Daltonization: recolouring frames so a dichromat can tell apart what they would confuse.

Simulation: Machado, Oliveira and Fernandes (2009), severity 1.0, matrices on linear RGB.
Correction: the error a viewer cannot see (original minus simulated) is redistributed into
channels they can (Fidaner et al.'s daltonize). Simulation, redistribution and the identity
fold into one 3x3 matrix per viewer type, applied to the whole batch in linear light; the
strength blends the display-referred result with the input, so strength 0 is the identity.
"""

import torch

from services.core.schemas import ColorVision

# Machado et al. 2009, Table 1, severity 1.0 (rows: output R, G, B).
SIMULATION = {
    ColorVision.protanopia: ((0.152286, 1.052583, -0.204868),
                             (0.114503, 0.786281, 0.099216),
                             (-0.003882, -0.048116, 1.051998)),
    ColorVision.deuteranopia: ((0.367322, 0.860646, -0.227968),
                               (0.280085, 0.672501, 0.047413),
                               (-0.011820, 0.042940, 0.968881)),
    ColorVision.tritanopia: ((1.255528, -0.076749, -0.178779),
                             (-0.078411, 0.930809, 0.147602),
                             (0.004733, 0.691367, 0.303900)),
}  # fmt: skip
# Where the invisible error goes: red-green losses into green and blue, blue-yellow
# losses into red and green.
REDISTRIBUTION = {
    ColorVision.protanopia: ((0.0, 0.0, 0.0), (0.7, 1.0, 0.0), (0.7, 0.0, 1.0)),
    ColorVision.deuteranopia: ((0.0, 0.0, 0.0), (0.7, 1.0, 0.0), (0.7, 0.0, 1.0)),
    ColorVision.tritanopia: ((1.0, 0.0, 0.7), (0.0, 1.0, 0.7), (0.0, 0.0, 0.0)),
}


def srgb_to_linear(x: torch.Tensor) -> torch.Tensor:
    return torch.where(x <= 0.04045, x / 12.92, ((x.clamp(min=0) + 0.055) / 1.055) ** 2.4)


def linear_to_srgb(x: torch.Tensor) -> torch.Tensor:
    return torch.where(x <= 0.0031308, x * 12.92, 1.055 * x.clamp(min=0) ** (1 / 2.4) - 0.055)


def simulation_matrix(kind: ColorVision) -> torch.Tensor:
    return torch.tensor(SIMULATION[kind], dtype=torch.float64)


def daltonization_matrix(kind: ColorVision) -> torch.Tensor:
    """D = I + R (I - S): linear RGB in, daltonized linear RGB out."""
    eye = torch.eye(3, dtype=torch.float64)
    return eye + torch.tensor(REDISTRIBUTION[kind], dtype=torch.float64) @ (
        eye - simulation_matrix(kind)
    )


def apply_matrix(matrix: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """A 3x3 colour matrix applied to every pixel of an NCHW batch."""
    return torch.einsum("ij,njhw->nihw", matrix.to(x.device, x.dtype), x)


def simulate(x: torch.Tensor, kind: ColorVision) -> torch.Tensor:
    """What a dichromat of `kind` sees of an sRGB NCHW batch in [0, 1]."""
    return linear_to_srgb(apply_matrix(simulation_matrix(kind), srgb_to_linear(x)).clamp(0, 1))


def daltonize(x: torch.Tensor, kind: ColorVision, strength: float) -> torch.Tensor:
    """An sRGB NCHW batch in [0, 1] recoloured for `kind`, blended in by `strength`."""
    if kind == ColorVision.none or strength == 0:
        return x
    corrected = linear_to_srgb(
        apply_matrix(daltonization_matrix(kind), srgb_to_linear(x)).clamp(0, 1)
    )
    return torch.lerp(x, corrected, strength)
