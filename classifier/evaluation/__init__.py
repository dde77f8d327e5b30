"""Stage 4a, measuring a run: metrics, `cxrclf evaluate`, plots, the Table-2 grid and compare."""
