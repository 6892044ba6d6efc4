"""`streamrec` subcommands of the export package (registered by streamrec.stream.cli.main).

``export CHECKPOINT OUT``, ``bundle verify PATH``, ``bundle inspect PATH`` and ``bench step``.
Heavy imports (torch, onnxruntime) happen inside the handlers so ``--help`` stays instant.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import Any


def register(sub: argparse._SubParsersAction[Any]) -> None:
    """Add this package's subcommands to the CLI."""
    e = sub.add_parser(
        "export",
        help="export a checkpoint to a verified ONNX bundle",
        description="Export the model's per-event step (and the history encoder) to ONNX, "
        "verify ONNX Runtime against torch at other batch sizes on random and real inputs, "
        "and write the bundle atomically. Nothing is written if verification fails.",
    )
    e.add_argument("checkpoint", type=Path, help="checkpoint written by `streamrec train`")
    e.add_argument("out", type=Path, help="bundle directory to create")
    e.add_argument("--k", type=int, default=20, help="items returned per event")
    e.add_argument(
        "--model-version", dest="version", help="model version (default: m-<sha of the step graph>)"
    )
    e.add_argument("--parent", help="version of the model this one replaces")
    e.add_argument(
        "--real-data",
        type=Path,
        help="sequence file `user item item ...` of the model's own data: verification also "
        "replays its real next events (default: random inputs only)",
    )
    e.add_argument("--real-n", type=int, default=10_000, help="real inputs to check")
    e.add_argument(
        "--variants",
        default="int8",
        help="comma list of optional graphs to try: int8 (CPU), fp16 (GPU); '' for none",
    )
    e.add_argument("--no-encode", action="store_true", help="skip the history encoder graph")
    e.add_argument(
        "--index",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="add an item index (query graph, item table, HNSW graph) that serves top-K on "
        "large catalogs without scoring every item; admitted only if its recall@10 against "
        "exact scoring reaches --index-floor on the verification inputs (default: built from "
        "50,000 items)",
    )
    e.add_argument(
        "--index-floor",
        type=float,
        default=0.95,
        help="recall@10 against exact scoring below which the index is refused",
    )
    e.add_argument("--overwrite", action="store_true", help="replace an existing bundle")
    e.set_defaults(handler=_export)

    b = sub.add_parser("bundle", help="check or describe a bundle")
    bsub = b.add_subparsers(dest="bundle_command", metavar="ACTION", required=True)
    v = bsub.add_parser("verify", help="re-hash every file, check the manifest, run one step")
    v.add_argument("path", type=Path)
    v.add_argument("--no-run", action="store_true", help="checksums only, no ONNX session")
    v.set_defaults(handler=_verify)
    i = bsub.add_parser("inspect", help="print the manifest")
    i.add_argument("path", type=Path)
    i.add_argument("--json", action="store_true", help="the raw manifest JSON")
    i.set_defaults(handler=_inspect)


def quiet_exporter_logs() -> None:
    """Keep the ONNX exporter's INFO chatter out of the command's output."""
    for name in ("onnx_ir", "onnxscript", "torch.onnx"):
        logging.getLogger(name).setLevel(logging.WARNING)


def _known_share(sequences: list[Any]) -> float:
    """Share of items in ``sequences`` that the vocabulary knows (not UNK)."""
    from streamrec.models.data.vocab import UNK

    total = sum(len(s) for s in sequences)
    unknown = sum(int((s == UNK).sum()) for s in sequences)
    return 1.0 - unknown / total if total else 0.0


def _export(args: argparse.Namespace) -> int:
    from streamrec.export.errors import ExportError, SessionError
    from streamrec.export.onnx_export import export_checkpoint
    from streamrec.export.realdata import load_sequences, real_step_inputs
    from streamrec.models.nets.checkpoint import Checkpoint, CheckpointError

    quiet_exporter_logs()
    variants = tuple(v.strip() for v in args.variants.split(",") if v.strip())
    try:
        ckpt = Checkpoint.load(args.checkpoint)
        real = None
        if args.real_data is not None:
            sequences = load_sequences(args.real_data, ckpt.vocab)
            known = _known_share(sequences)
            if known < 0.5:
                # Real inputs only mean something in the model's own catalog.
                print(
                    f"real inputs skipped: only {known:.0%} of the items in {args.real_data} "
                    "are in this model's vocabulary (pass --real-data with the model's own "
                    "sequences); verifying on random inputs only"
                )
            else:
                previous = 0 if ckpt.blend is None else ckpt.blend.previous
                real = real_step_inputs(
                    ckpt.build_model(), sequences, args.real_n, previous=previous
                )
                print(f"real inputs: {len(real)} next events from {args.real_data}")
        bundle = export_checkpoint(
            ckpt,
            args.out,
            k=args.k,
            version=args.version,
            parent=args.parent,
            real=real,
            variants=variants,
            encode=not args.no_encode,
            overwrite=args.overwrite,
            index=args.index,
            index_floor=args.index_floor,
        )
    except (ExportError, SessionError, CheckpointError, OSError) as exc:
        print(f"export failed: {exc}", file=sys.stderr)
        return 1
    m = bundle.manifest
    print(f"bundle {bundle.path} version {m.model_version}: graphs {', '.join(m.graphs)}")
    if m.blend:
        b = m.blend
        print(
            f"  transitions in the step: alpha {b['alpha']}, {b['width']} followers per item, "
            f"{b['recent']} latest items, {b['entries']} entries"
        )
    for name in ("random", "real"):
        rep = m.verification.get("step", {}).get(name)
        if rep:
            print(
                f"  step parity ({name}, {rep['rows']} rows): top-K agreement "
                f"{rep['agreement']:.4%} ({rep['tie_rows']} tie-only), max |state| diff "
                f"{rep['max_state_diff']:.2e}, max |score| diff {rep['max_score_diff']:.2e}"
            )
    for name, info in m.verification.get("variants", {}).items():
        verdict = "admitted" if info.get("admitted") else f"rejected ({info.get('reason')})"
        print(f"  variant {name}: {verdict}")
    ix = m.verification.get("index")
    if ix:
        verdict = "admitted" if ix["admitted"] else "REFUSED"
        print(
            f"  item index: {verdict}: {ix['reason']}; {ix['rows']:,} rows, built in "
            f"{ix['build_s']:.1f} s, {ix['size_mb']:.0f} MB; {ix['index_us']:.0f} us/event "
            f"vs exact {ix['exact_us']:.0f} us/event ({ix['inputs']} inputs, one thread)"
        )
    return 0


def _verify(args: argparse.Namespace) -> int:
    from streamrec.export.bundle import load_bundle
    from streamrec.export.errors import ExportError, SessionError

    try:
        bundle = load_bundle(args.path)
        print(f"{args.path}: {len(bundle.manifest.files)} files, every checksum matches")
        if not args.no_run:
            import numpy as np

            from streamrec.export.runtime import StepSession

            session = StepSession(bundle)
            out = session.run(np.array([2]), np.array([1]), session.initial_states(1))
            print(
                f"step runs on {session.provider}: top-{session.k} {out.top_items[0][:5]}..., "
                f"buy_prob {out.buy_prob[0]:.3f}"
            )
            if bundle.manifest.index is not None:
                from streamrec.export.spec import INDEX_ROLE

                indexed = StepSession(bundle, graph=INDEX_ROLE, provider="cpu")
                got = indexed.run(np.array([2]), np.array([1]), indexed.initial_states(1))
                same = len(set(got.top_items[0]) & set(out.top_items[0])) / session.k
                print(
                    f"item index serves: {bundle.manifest.index.rows:,} rows, same top-"
                    f"{session.k} share {same:.2f} on this one event"
                )
    except (ExportError, SessionError) as exc:
        print(f"{args.path}: REFUSED: {exc}", file=sys.stderr)
        return 1
    return 0


def _inspect(args: argparse.Namespace) -> int:
    from streamrec.export.bundle import read_manifest
    from streamrec.export.errors import ExportError

    try:
        m = read_manifest(args.path)
    except ExportError as exc:
        print(f"{args.path}: {exc}", file=sys.stderr)
        return 1
    if args.json:
        print(m.to_json().decode())
        return 0
    d = m.dims
    print(f"bundle      {args.path} ({m.format})")
    print(f"version     {m.model_version} (parent {m.parent_version}), created {m.created}")
    print(f"model       {m.cell}, state {d.state_size}, hidden {d.hidden_dim}, embed {d.embed_dim}")
    print(f"items       {d.vocab_size} used of {d.num_items} rows, k {m.k}")
    print(f"vocabulary  {m.vocab.file} sha256 {m.vocab.sha256[:16]}…")
    print(f"graphs      {', '.join(f'{r}={f}' for r, f in m.graphs.items())}")
    if m.index is not None:
        ix = m.index
        print(
            f"item index  {ix.file}: {ix.rows:,} rows, recall@10 {ix.recall:.4f} against exact "
            f"(floor {ix.floor}), ef {ix.ef_search}, degree {ix.m}"
        )
    print(f"metrics     {m.metrics}")
    for name, size in sorted(m.files.items()):
        path = Path(args.path) / name
        mb = path.stat().st_size / 1e6 if path.exists() else float("nan")
        print(f"  {name:18s} {mb:9.2f} MB  sha256 {size[:16]}…")
    return 0
