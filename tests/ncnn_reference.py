"""The shipped ncnn graphs run by the `ncnn` package on the CPU: the reference our PyTorch
networks are checked against and the speed they are benchmarked against.

`ncnn` is a dev dependency, so this lives with the tests; `bench/model.py` imports it too.
"""

import numpy as np

from services.worker.models.catalog import ModelSpec, ncnn_files


class NcnnUpscaler:
    """An `Upscaler` over ncnn's CPU path (Vulkan off), one frame per call."""

    def __init__(self, spec: ModelSpec, threads: int) -> None:
        import ncnn

        self.scale = spec.scale
        self.name = f"{spec.key}-ncnn-cpu"
        self.net = ncnn.Net()
        self.net.opt.use_vulkan_compute = False
        self.net.opt.num_threads = threads
        param, weights = ncnn_files(spec.ncnn_stem)
        if self.net.load_param(str(param)) or self.net.load_model(str(weights)):
            raise RuntimeError(f"ncnn could not load {spec.ncnn_stem}")
        self._mat = ncnn.Mat

    def upscale(self, frames: np.ndarray) -> np.ndarray:
        outputs = []
        for frame in frames:
            chw = np.ascontiguousarray(frame.transpose(2, 0, 1), dtype=np.float32) / 255
            with self.net.create_extractor() as extractor:
                extractor.input("data", self._mat(chw))
                _, out = extractor.extract("output")
                pixels = np.array(out).transpose(1, 2, 0) * 255
            outputs.append(pixels.round().clip(0, 255).astype(np.uint8))
        return np.stack(outputs)
