"""Home-visit casework for bound workers: visit reports, their queries, and the notice for everyone else."""
