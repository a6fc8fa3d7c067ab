#!/usr/bin/env python3
"""Predict a structure from your MSA: `python launch.py --msa family.sto --output model.pdb --endpointId ID`."""

from alphafold_msa.launcher.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
