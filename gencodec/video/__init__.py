"""Video codecs on Wan 2.1 (GVC codebook coding)."""
