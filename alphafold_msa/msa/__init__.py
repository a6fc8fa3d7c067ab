"""Multiple sequence alignments: read any common format into one query-relative `Msa`."""

from alphafold_msa.msa.alignment import GAP_ID, Msa, from_sequences
from alphafold_msa.msa.read import FORMATS, detect_format, parse_msa, read_msa

__all__ = ["FORMATS", "GAP_ID", "Msa", "detect_format", "from_sequences", "parse_msa", "read_msa"]
