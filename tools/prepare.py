"""Prepare inputs for research try-on models: person and garment photos → a dataset folder in the
layout CP-VTON (`cp-vton`, 192×256), VITON-HD (`viton-hd`, 768×1024) or HR-VITON (`hr-viton`) reads.

    python -m tools.prepare SRC OUT --layout cp-vton|viton-hd|hr-viton [--framing person|centre]
        [--persons persons] [--garments garments] [--split test] [--chain auto|seed|geometric]
    python -m tools.prepare --bucket BUCKET --layout … [--framing person|centre] [--customers customers/]
        [--catalogue catalogue/] [--prefix export/] [--split test] [--wait] [--timeout S]
    make prepare SRC=… OUT=… LAYOUT=… [FRAMING=centre]        make prepare BUCKET=… LAYOUT=… [FRAMING=…]

Framing (models.export.FRAMINGS): `person` (default) exports each person in its upper-garment
working crop (models.chain.frame_person: 3:4, the torso at the share the VITON-HD-style photos
have), whatever the photo's framing; `centre` exports the sample's 4:3 centre crop, for photos
already framed like those datasets (theirs are copied byte for byte at the layout's size).

Folder: the photos under SRC/persons/ and SRC/garments/ (sub-folders included) → OUT/<split>/…,
OUT/<split>_pairs.txt (every person × every garment) and OUT/report.json. Bucket: the customer
photos and catalogue garments of the bucket, through the Celery workers (persons from the cache
render runs fill) → export/<layout>/… in the bucket, report at export/<layout>/report.json.
What each file is, and which loader fact it follows: models/export/.

Bad inputs (undecodable, no person found, no garment found, a keypoint the layout needs missing,
two inputs with one exported name) are reported per file and left out; the rest is written.
Exit 0: all exported; 1: some input failed or was invalid (see the report); 2: bad arguments or
an unreadable SRC; 3: another export of the layout is active on the bucket.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from models.export import DEFAULT_FRAMING, FRAMINGS, LAYOUTS
from models.weights import MissingWeightsError

EXIT_FAILED, EXIT_USAGE, EXIT_ACTIVE = 1, 2, 3


def _say_left_out(lay) -> None:
    for folder, why in lay.left_out:
        print(f"left out: {folder}/: {why}")


def _summary(report: dict, where: str) -> int:
    for item in report["invalid"]:
        print(f"invalid: {item['reason']}")
    for item in report["failures"]:
        print(f"failed: {item['reason']}")
    for warning in report["warnings"]:
        print(f"warning: {warning}")
    c = report["counts"]
    print(f"{report['layout']} ({report['framing']} framing): {c['persons_exported']}/{c['persons']} persons, "
          f"{c['garments_exported']}/{c['garments']} garments, {c['pairs']} pairs in {report['pairs_file']}; "
          f"{c['failed']} failed, {c['invalid_inputs']} invalid → {where}")
    return 0 if report["ok"] else EXIT_FAILED


# --- a folder ------------------------------------------------------------------------------------
def _list_images(folder: Path, max_bytes: int) -> tuple[list[tuple[str, str, Path]], list[dict]]:
    """([(key, stem, path)], invalid) for every file under `folder`, key = its path from SRC; the
    same reasons a bucket export gives (producer.planner.list_inputs)."""
    from worker.keys import check_input_key

    prefix = folder.name + "/"
    found, invalid = [], []
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        key = prefix + path.relative_to(folder).as_posix()
        size = path.stat().st_size
        reason = check_input_key(key, prefix)
        if reason is None and size == 0:
            reason = f"{key!r}: empty object"
        if reason is None and size > max_bytes:
            reason = f"{key!r}: too large ({size} bytes; limit {max_bytes})"
        if reason is None:
            found.append((key, path.relative_to(folder).with_suffix("").as_posix(), path))
        else:
            invalid.append({"key": key, "reason": reason})
    return found, invalid


def export_folder(src: Path, out: Path, layout: str, *, persons: str = "persons", garments: str = "garments",
                  split: str = "test", chain_mode: str | None = None, framing: str = DEFAULT_FRAMING) -> dict:
    """Write the dataset of SRC's photos into OUT, each person framed as `framing` says; the
    report (also written as OUT/report.json)."""
    from models import chain
    from models.contract import BadInputError, ChainOptions
    from models.export import FRAMED_CATEGORY, check_framing, garment_files, pairs_text, person_files
    from models.export.run import assign_names, bad_input_reason, build_report, exported, failed, now
    from worker.config import settings
    from worker.images import decode_image

    max_bytes = settings().max_input_bytes
    options = chain.options_for_framing(check_framing(framing),
                                        ChainOptions(mode=chain_mode) if chain_mode else ChainOptions())
    created = now()
    listed, invalid = {}, []
    for kind, sub in (("person", persons), ("garment", garments)):
        folder = src / sub
        if not folder.is_dir():
            raise FileNotFoundError(f"{folder}: no such folder (the {kind} photos)")
        found, bad = _list_images(folder, max_bytes)
        invalid += bad
        names, clashes = assign_names([(key, stem) for key, stem, _ in found])
        invalid += clashes
        listed[kind] = [(key, names[key], path) for key, _, path in found if key in names]

    def write(files) -> None:
        for rel, data in files.files:
            target = out / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)

    results = {"person": [], "garment": []}
    for kind in ("person", "garment"):
        for key, name, path in listed[kind]:
            try:
                body = path.read_bytes()
                image = decode_image(body, key, max_bytes)
                if kind == "person":
                    person = chain.frame_person(chain.prepare_person(image, options, name=key), FRAMED_CATEGORY)
                    files = person_files(layout, person, name, split, source=body)
                else:
                    files = garment_files(layout, image, name, split, source=body)
            except BadInputError as e:
                results[kind].append(failed(key, name, bad_input_reason(e, key, name), kind=kind))
                continue
            write(files)
            results[kind].append(exported(key, name, files, kind=kind))
    report = build_report(layout, split=split, source=str(src), chain=chain.chain_version(options),
                          framing=framing, created=created,
                          persons=results["person"], garments=results["garment"], invalid=invalid)
    out.mkdir(parents=True, exist_ok=True)
    ok = lambda rs: [r["name"] for r in rs if r["status"] == "exported"]  # noqa: E731
    (out / report["pairs_file"]).write_bytes(pairs_text(ok(report["persons"]), ok(report["garments"])))
    (out / "report.json").write_text(json.dumps(report, indent=1, sort_keys=True))
    return report


# --- a bucket ------------------------------------------------------------------------------------
def export_bucket(args) -> int:
    import redis

    from producer.export import ExportActiveError, start_export
    from worker.config import settings
    from worker.export_job import ExportBook
    from worker.export_tasks import resend_lost_items, send_export
    from worker.storage import Storage

    s = settings().with_inputs(args.bucket, args.customers, args.catalogue)
    storage = Storage.from_settings(s)
    client = redis.Redis.from_url(s.redis_url)
    try:
        summary = start_export(storage, client, s, send_export, layout=args.layout, split=args.split,
                               prefix=args.prefix, framing=args.framing)
    except ExportActiveError as e:
        print(f"error: {e}", file=sys.stderr)
        return EXIT_ACTIVE
    report_key = f"{summary['root']}report.json"
    print(f"export {summary['run_id']} ({args.framing} framing): {summary['persons']} persons, "
          f"{summary['garments']} garments, {summary['invalid']} invalid; {summary['items']} tasks → "
          f"s3://{s.bucket}/{summary['root']}")
    print(f"report: s3://{s.bucket}/{report_key}")
    if not args.wait:
        for item in summary["invalid_list"]:
            print(f"invalid: {item['reason']}")
        return 0

    import time

    from tqdm import tqdm

    book = ExportBook(client, summary["run_id"], ttl=s.run_ttl)
    start = time.monotonic()
    with tqdm(total=summary["items"], unit="task", desc=summary["run_id"], file=sys.stderr) as bar:
        while True:
            resend_lost_items(book, s.run_stalled_after)
            st = book.status()
            bar.update(st["items_done"] - bar.n)
            if st.get("state") == "finished":
                break
            if args.timeout is not None and time.monotonic() - start > args.timeout:
                print(f"error: export {summary['run_id']} not finished after {args.timeout}s ({st})", file=sys.stderr)
                return EXIT_FAILED
            time.sleep(0.5)
    return _summary(storage.get_json(report_key), f"s3://{s.bucket}/{summary['root']}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m tools.prepare", description=__doc__.split("\n\n")[0])
    ap.add_argument("src", nargs="?", help="folder holding the person and garment photos")
    ap.add_argument("out", nargs="?", help="dataset folder to write")
    ap.add_argument("--layout", required=True, choices=sorted(LAYOUTS), help="which project's dataset layout")
    ap.add_argument("--framing", choices=FRAMINGS, default=DEFAULT_FRAMING,
                    help="person (default): each person in its upper-garment working crop, the framing of the "
                         "VITON-HD-style datasets, for photos in any framing; centre: the sample's 4:3 centre "
                         "crop, for photos already framed like the datasets (theirs are copied unchanged)")
    ap.add_argument("--split", default="test", help="the loaders' datamode / dataset_mode folder (default test)")
    ap.add_argument("--persons", default="persons", help="folder of person photos under SRC (default persons)")
    ap.add_argument("--garments", default="garments", help="folder of garment photos under SRC (default garments)")
    ap.add_argument("--chain", choices=("auto", "seed", "geometric"), help="pose and parsing (default $TRYON_CHAIN)")
    ap.add_argument("--bucket", help="export the bucket's customers and catalogue through the workers instead")
    ap.add_argument("--customers", help="with --bucket: customer photo prefix (default $TRYON_CUSTOMERS_PREFIX)")
    ap.add_argument("--catalogue", help="with --bucket: garment prefix (default $TRYON_CATALOGUE_PREFIX)")
    ap.add_argument("--prefix", default="export/", help="with --bucket: written under PREFIX<layout>/ (default export/)")
    ap.add_argument("--wait", action="store_true", help="with --bucket: wait for the report; exit 1 if an input failed")
    ap.add_argument("--timeout", type=float, help="with --wait: give up after this many seconds")
    args = ap.parse_args(argv)
    if "/" in args.split or not args.split.strip():
        ap.error(f"--split {args.split!r}: a folder name")
    lay = LAYOUTS[args.layout]

    if args.bucket:
        if args.src or args.out:
            ap.error("give SRC OUT or --bucket, not both")
        _say_left_out(lay)
        return export_bucket(args)
    if not (args.src and args.out):
        ap.error("SRC and OUT are required (or --bucket)")
    _say_left_out(lay)
    try:
        report = export_folder(Path(args.src), Path(args.out), args.layout, persons=args.persons,
                               garments=args.garments, split=args.split, chain_mode=args.chain,
                               framing=args.framing)
    except (FileNotFoundError, MissingWeightsError) as e:
        print(f"error: {e}", file=sys.stderr)
        return EXIT_USAGE
    return _summary(report, str(args.out))


if __name__ == "__main__":
    sys.exit(main())
