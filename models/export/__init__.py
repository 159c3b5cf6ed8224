"""Inputs for research try-on models: a Person and garment photos → the files of a dataset
layout, exactly as CP-VTON, VITON-HD and HR-VITON's dataset loaders read them.

    from models.export import LAYOUTS, person_files, garment_files, pairs_text, exported_name
    person = chain.frame_person(person, FRAMED_CATEGORY)   # framing "person" (the default)
    files = person_files("viton-hd", person, "alice")      # ExportedFiles: [(path, bytes)], notes
    files = garment_files("viton-hd", garment_bgr, "tee-1")

Plain library code (no files written, no broker, no S3): `tools/prepare.py` writes a folder,
the batch worker (`worker/export_job.py`) writes the same bytes into the bucket. The caller
prepares the Person and frames it (FRAMINGS: the upper-garment working crop by default, or the
sample's centre crop); the exported image is the Person's crop. Which file
follows which loader fact: layouts.py (layouts, names, label ids), encode.py (sizes, modes,
palettes), openpose.py (JSON schemas, BODY_25, the rendered skeleton), agnostic.py (HR-VITON's
agnostic maps).
"""
from models.export.layouts import (DEFAULT_FRAMING, FRAMED_CATEGORY, FRAMINGS, LAYOUTS, ExportedFiles, Layout,
                                   check_framing, exported_name, garment_files, hr_viton_unpaired_persons, layout,
                                   pairs_text, person_files)

__all__ = ["DEFAULT_FRAMING", "FRAMED_CATEGORY", "FRAMINGS", "LAYOUTS", "ExportedFiles", "Layout", "check_framing",
           "exported_name", "garment_files", "hr_viton_unpaired_persons", "layout", "pairs_text", "person_files"]
