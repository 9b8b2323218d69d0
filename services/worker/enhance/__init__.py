"""Enhancement modes around the upscaling network: auto content type, dim-scene lift and
colour-vision grading, as batched tensor operations on the model's device.

`services.worker.upscaler.EnhancedUpscaler` applies them around the network for a stream
that asks for any of them; the modules here are its pieces and know nothing of the network.
"""
