"""Long-video memory (frame-preserving memory compression, arXiv 2512.23851).

A long video becomes a fixed budget of memory tokens for a Wan DiT: a compressor with a low-res
branch (downsampled video → VAE → the DiT's own patch embedding) and a gated high-res branch (causal
3D convolutions + temporal attention into the DiT width). Any frame can be retrieved from the tokens
alone; `train` pretrains the compressor with the random-frame retrieval objective.
"""
