"""Stage 3, training: config, losses, datasets, the film cache, runtime, distributed helpers,
the TensorBoard view, NIH pretraining data and the loop that writes a run folder."""
