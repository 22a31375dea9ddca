"""Training runs: the Trainer job, its batches and callbacks, K-fold, sweeps, export, reading runs live."""
