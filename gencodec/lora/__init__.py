"""LoRA implicit representation (DESIGN §9, Compression as Adaptation): one vector θ adapts Wan.

- `partition`: the seeded balanced signed map θ (d) → LoRA entries (D), an exact isometry.
- `adapter`: `OneVectorLoRA`, rank-r adapters on the Wan attention Linears read from θ via hooks.
- `theta_coding`: quantisation of θ and per-group entropy coding (constriction).
"""
