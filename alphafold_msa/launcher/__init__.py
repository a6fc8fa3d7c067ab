"""Launcher: the command line, local runs, remote jobs on a RunPod endpoint, batches and the result
files they bring back."""
