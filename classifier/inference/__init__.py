"""Stage 4b, using a run: a checkpoint applied to film files (preparation exactly as in
training), calibration and the label tree, `cxrclf predict` and Grad-CAM/CAM heatmaps."""
