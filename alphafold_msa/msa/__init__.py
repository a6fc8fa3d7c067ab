"""Multiple sequence alignments: read any common format into one query-relative `Msa`."""

from alphafold_msa.msa.alignment import GAP_ID, Msa, from_sequences
from alphafold_msa.msa.complex import ComplexMsa, assemble_complex
from alphafold_msa.msa.read import FORMATS, detect_format, parse_input, parse_msa, read_input, read_msa

__all__ = ["FORMATS", "GAP_ID", "ComplexMsa", "Msa", "assemble_complex", "detect_format", "from_sequences",
           "parse_input", "parse_msa", "read_input", "read_msa"]
