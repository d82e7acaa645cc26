"""gansr's Hydra launcher plugin (Hydra loads plugins only from the ``hydra_plugins`` namespace package):
``hydra/launcher=submitit_slurm|submitit_local`` of ``gansr-train -m`` (:mod:`.launcher`)."""
