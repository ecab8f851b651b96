"""The model layer: the V-JEPA 2 backbone, its preprocessing, the embedding cache, probes, pretraining, surprise.

Tensors in, tensors out: nothing here does I/O beyond reading weights and the embedding cache.
"""
