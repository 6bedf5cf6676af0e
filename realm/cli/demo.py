"""``realm demo``: the options of the whole-pipeline demo; its defaults are configs/demo.yaml."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

__all__ = ["register"]


def _run(args: argparse.Namespace) -> int:
    from realm.eval.run import summary_lines
    from realm.config import load_config
    from realm.pipeline.demo import DemoConfig, linking_note, next_commands, run_demo

    cfg = load_config(DemoConfig, args.config, n_stays=args.n_stays, out=args.out, seed=args.seed,
                      max_epochs=args.max_epochs, kg=args.kg, embedder=args.embedder,
                      n_resamples=args.n_resamples, progress=False if args.no_progress else None)
    record = run_demo(cfg)
    sys.stdout.write("\n" + "\n".join(summary_lines(record)) + "\n")
    sys.stdout.write(f"\n{linking_note(record['linking'])}\nFinished in {record['wall_seconds']:.0f} s.\n"
                     f"Report: {(Path(cfg.out) / 'report.html').resolve()}\n"
                     f"Outputs: {Path(cfg.out) / 'demo.json'}\n\nNext:\n")
    sys.stdout.write("".join(f"  {command}\n" for command in next_commands(cfg, record["files"], record["example_stay"])))
    return 0


def register(parser: argparse.ArgumentParser) -> None:
    """Add the ``realm demo`` arguments (unset: the value of ``--config``)."""
    parser.add_argument("--n-stays", type=int, default=None, help="ICU stays to synthesize")
    parser.add_argument("--out", type=Path, default=None, help="output folder")
    parser.add_argument("--seed", type=int, default=None, help="one seed for every step")
    parser.add_argument("--max-epochs", type=int, default=None,
                        help="training epochs (early stopping on validation loss)")
    parser.add_argument("--kg", default=None, help="built-in KG name or a KG spec YAML")
    parser.add_argument("--embedder", default=None,
                        help="text embedder of KG node vectors (onnx, minilm, hashing)")
    parser.add_argument("--n-resamples", type=int, default=None, help="patient-level bootstrap resamples")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    parser.add_argument("--config", default="demo.yaml", help="demo settings (a path, or a name under configs/)")
    parser.set_defaults(func=_run)
