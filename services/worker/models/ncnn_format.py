"""Reads ncnn models: the `.param` graph text and the `.bin` weight blob it describes.

Only the layer types the Real-ESRGAN graphs use carry weights here (Convolution, PReLU);
every other layer must carry none. The reader consumes the `.bin` exactly: a byte left over
or missing means the graph and the weights disagree, and loading stops with a ValueError.
"""

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

PARAM_MAGIC = 7767517
# ncnn's "auto" weight storage starts with a 4-byte tag saying how the data is stored.
TAG_FLOAT16 = 0x01306B47
TAG_FLOAT32 = 0x00000000
WEIGHTLESS_LAYERS = {
    "Input", "Split", "Concat", "Eltwise", "BinaryOp", "Interp", "PixelShuffle",
}  # fmt: skip


@dataclass
class NcnnLayer:
    """One line of a `.param` file, with the weights it owns once the `.bin` is read."""

    type: str
    name: str
    inputs: list[str]
    outputs: list[str]
    params: dict[int, str]
    weights: dict[str, np.ndarray] = field(default_factory=dict)

    def int_param(self, key: int, default: int = 0) -> int:
        return int(self.params.get(key, default))


def parse_param(text: str) -> list[NcnnLayer]:
    """Layers of a `.param` file in graph order."""
    lines = [line.split() for line in text.splitlines() if line.strip()]
    if not lines or int(lines[0][0]) != PARAM_MAGIC:
        raise ValueError(f"not an ncnn .param file (magic {lines[0] if lines else None})")
    layer_count = int(lines[1][0])
    layers = []
    for parts in lines[2:]:
        layer_type, name, n_in, n_out = parts[0], parts[1], int(parts[2]), int(parts[3])
        blobs = parts[4 : 4 + n_in + n_out]
        params = {}
        for item in parts[4 + n_in + n_out :]:
            key, value = item.split("=", 1)
            params[int(key)] = value
        layers.append(NcnnLayer(layer_type, name, blobs[:n_in], blobs[n_in:], params))
    if len(layers) != layer_count:
        raise ValueError(f".param declares {layer_count} layers but lists {len(layers)}")
    return layers


class _BinReader:
    """Walks the `.bin` blob the way ncnn's ModelBinFromDataReader does."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.offset = 0

    def take(self, size: int) -> bytes:
        if self.offset + size > len(self.data):
            raise ValueError(f".bin ends at byte {len(self.data)}, wanted {self.offset + size}")
        chunk = self.data[self.offset : self.offset + size]
        self.offset += size
        return chunk

    def raw_float32(self, count: int) -> np.ndarray:
        return np.frombuffer(self.take(4 * count), dtype="<f4").copy()

    def tagged(self, count: int) -> np.ndarray:
        tag = int.from_bytes(self.take(4), "little")
        if tag == TAG_FLOAT16:
            values = np.frombuffer(self.take(2 * count), dtype="<f2").astype(np.float32)
            self.take((-2 * count) % 4)  # fp16 data is padded to a 4-byte boundary
            return values
        if tag == TAG_FLOAT32:
            return self.raw_float32(count)
        raise ValueError(f"unsupported ncnn weight storage tag {tag:#010x} at {self.offset - 4}")


def read_model(param_path: Path, bin_path: Path) -> list[NcnnLayer]:
    """Layers with their weights as float32 arrays, shaped as PyTorch expects them."""
    layers = parse_param(param_path.read_text())
    reader = _BinReader(bin_path.read_bytes())
    for layer in layers:
        if layer.type == "Convolution":
            out_ch, kernel = layer.int_param(0), layer.int_param(1)
            size = layer.int_param(6)
            if size % (out_ch * kernel * kernel):
                raise ValueError(
                    f"{layer.name}: weight_data_size {size} does not fit {out_ch}x{kernel}x{kernel}"
                )
            in_ch = size // (out_ch * kernel * kernel)
            weight = reader.tagged(size).reshape(out_ch, in_ch, kernel, kernel)
            layer.weights["weight"] = weight
            if layer.int_param(5):
                layer.weights["bias"] = reader.raw_float32(out_ch)
        elif layer.type == "PReLU":
            layer.weights["weight"] = reader.raw_float32(layer.int_param(0))
        elif layer.type not in WEIGHTLESS_LAYERS:
            raise ValueError(f"{layer.name}: layer type {layer.type} is not supported")
    if reader.offset != len(reader.data):
        raise ValueError(f"{bin_path.name}: {len(reader.data) - reader.offset} bytes left unread")
    return layers
