"""Stage 2, networks: the architecture registry, MD-Conv, state-dict surgery and our checkpoint
files."""
