"""One export's bookkeeping, without I/O: the inputs' exported names and the report, shared by the
folder export (`tools/prepare.py`) and the bucket export (`worker/export_job.py`).

    names, invalid = assign_names([(key, stem), …])      # key → exported name; clashes reported
    report = build_report(layout, split=…, source=…, chain=…, framing=…, persons=[…], garments=[…], invalid=[…])

An item's result (one per person photo or garment photo, as a render run records pairs):
    {"key": "persons/alice.jpg", "name": "alice", "status": "exported" | "failed",
     "reason": "…" (failed), "files": [paths under the dataset root], "notes": […], …}
"""
from __future__ import annotations

import datetime as dt

from models.contract import BadInputError
from models.export.layouts import ExportedFiles, exported_name, hr_viton_unpaired_persons, layout


def assign_names(inputs: list[tuple[str, str]]) -> tuple[dict[str, str], list[dict]]:
    """({key: exported name}, [{'key', 'reason'}]) for (key, stem) pairs in order: the first input
    keeps a name, a later one that would write the same files is reported, never exported."""
    names, taken, invalid = {}, {}, []
    for key, stem in inputs:
        try:
            name = exported_name(stem)
        except ValueError as e:
            invalid.append({"key": key, "reason": f"{key}: {e}"})
            continue
        if name in taken:
            invalid.append({"key": key, "reason": f"{key}: exported as {name!r}, like {taken[name]!r}"})
            continue
        taken[name] = key
        names[key] = name
    return names, invalid


def exported(key: str, name: str, files: ExportedFiles, **extra) -> dict:
    return {"key": key, "name": name, "status": "exported", "files": files.paths, "notes": files.notes, **extra}


def failed(key: str, name: str | None, reason: str, **extra) -> dict:
    """A failed item; the reason names the input (as the render report's do)."""
    if key not in reason:
        reason = f"{key}: {reason}"
    return {"key": key, "name": name, "status": "failed", "reason": reason, **extra}


def bad_input_reason(error: BadInputError, key: str, name: str | None) -> str:
    """The chain names an input by the name it was given (the exported name, 'photo'); the
    report names the object."""
    text = str(error)
    for generic in filter(None, (name, "photo", "garment")):
        if text.startswith(f"{generic}: "):
            return f"{key}: {text[len(generic) + 2:]}"
    return text if key in text else f"{key}: {text}"


def build_report(layout_name: str, *, split: str, source: str, chain: str, framing: str, created: str,
                 persons: list[dict], garments: list[dict], invalid: list[dict], run_id: str | None = None) -> dict:
    lay = layout(layout_name)
    persons = sorted(persons, key=lambda r: r["key"])
    garments = sorted(garments, key=lambda r: r["key"])
    ok_p = [r["name"] for r in persons if r["status"] == "exported"]
    ok_g = [r["name"] for r in garments if r["status"] == "exported"]
    failures = [{"key": r["key"], "reason": r["reason"]} for r in persons + garments if r["status"] == "failed"]
    warnings = []
    unpaired = hr_viton_unpaired_persons(ok_p, ok_g) if lay.name == "hr-viton" else []
    if unpaired:
        shown = ", ".join(unpaired[:5]) + (f" and {len(unpaired) - 5} more" if len(unpaired) > 5 else "")
        warnings.append(f"HR-VITON's test loader also opens cloth/<person>.jpg and cloth-mask/<person>.jpg (the "
                        f"person's own garment, 'paired') for every person: {len(unpaired)} exported persons have "
                        f"no garment of their name ({shown}); name a customer's own garment like the customer")
    counts = {"persons": len(persons), "persons_exported": len(ok_p), "garments": len(garments),
              "garments_exported": len(ok_g), "failed": len(failures), "invalid_inputs": len(invalid),
              "pairs": len(ok_p) * len(ok_g)}
    report = {
        "layout": lay.name, "read_by": lay.reads, "size": list(lay.size), "split": split,
        "pairs_file": lay.pairs_file(split), "source": source, "chain": chain, "framing": framing,
        "created": created,
        "finished": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "counts": counts, "ok": not failures and not invalid,
        "left_out": [{"folder": f"{split}/{folder}/", "reason": why} for folder, why in lay.left_out],
        "warnings": warnings, "unpaired_persons": unpaired, "invalid": invalid, "failures": failures,
        "persons": persons, "garments": garments,
    }
    if run_id is not None:
        report["run_id"] = run_id
    return report


def now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
