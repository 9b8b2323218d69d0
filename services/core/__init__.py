"""What every SharprAI service shares: settings, schemas, keys, Redis state, S3, queues.

Nothing here imports torch or FastAPI, so the API image stays small.
"""
