"""What travels between launcher and worker: the job schema, the shape of its output, the results archive."""
