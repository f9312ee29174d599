"""Backends: how a model is loaded, fingerprinted, prompted and decoded.

A backend knows nothing of tasks: it takes rendered text, seeds and a ``DecodeSpec`` and returns text.
``Backend`` (in ``base``) is the protocol the pipeline calls; ``hf.HFBackend`` implements it with
transformers. Importing this package does not import torch.
"""
