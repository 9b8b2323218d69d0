"""Enhancement modes around the upscaling network: auto content type, dim-scene lift and
colour-vision grading, as batched tensor operations on the model's device.

`upscaler.EnhancedUpscaler` is what `services.worker.models.load_upscaler` returns for a
stream that asks for any of them; the other modules are its pieces.
"""
