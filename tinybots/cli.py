"""Data and model sub-commands of the ``tinybots`` console script.

``sim.cli`` owns ``main`` and calls :func:`add_subcommands` (``tinybots`` never imports ``sim``).

- ``tinybots generate``: run the handbook's transaction simulator (defaults = the run behind the
  published data) and write the raw table as CSV(.gz) or Parquet.
- ``tinybots baseline``: the handbook's Chapter 3 baseline on a transaction file: features from
  the file's full history, the train / delay / test split, four models, AUC ROC, AP and CP@100.
- ``tinybots prequential``: the handbook's Chapter 5 prequential validation of one model on a
  transaction file: 4 folds of 7 training, 7 delay and 7 assessment days, each fold 7 days
  before the previous one; the metrics per fold and their mean and standard deviation.

Handlers return an exit code; bad input raises ``InputError`` (a ``ValueError``), which
``sim.cli.main`` turns into exit code 2 with a one-line message.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import pandas as pd

from tinybots.errors import InputError, describe_validation_error
from tinybots.io import check_output_path, read_transactions, write_transactions
from tinybots.modeling import (
    BASELINE_MODELS,
    BASELINE_START,
    make_model,
    parse_date,
    run_baseline,
)
from tinybots.prequential import METRICS, PrequentialResult, run_prequential

JSON_KEYS = ("model", "auc_roc", "average_precision", "card_precision_at_100")


def add_subcommands(subparsers: argparse._SubParsersAction) -> None:
    """Add ``generate``, ``baseline`` and ``prequential`` to a sub-parser set; each sets
    ``handler``."""
    gen = subparsers.add_parser(
        "generate", help="simulate handbook transactions and write them to a file",
        description="Run the Fraud Detection Handbook's transaction simulator "
                    "(defaults: the run behind the published data, 1,754,155 transactions).",
    )
    gen.add_argument("--customers", type=int, default=5000, help="number of customers (5000)")
    gen.add_argument("--terminals", type=int, default=10000, help="number of terminals (10000)")
    gen.add_argument("--days", type=int, default=183, help="number of days (183)")
    gen.add_argument("--start", default="2018-04-01", help="first day, ISO date (2018-04-01)")
    gen.add_argument("--radius", type=float, default=5.0, help="customer-terminal radius (5.0)")
    gen.add_argument("--out", type=Path, default=Path("transactions_raw.csv.gz"),
                     help="output file: .csv, .csv.gz or .parquet (transactions_raw.csv.gz); "
                          "an existing file is replaced (the command says so), atomically")
    gen.add_argument("--n-jobs", type=int, default=None, help="worker processes (default: auto)")
    gen.add_argument("--progress", action="store_true", help="show a progress bar")
    gen.set_defaults(handler=_generate)

    base = subparsers.add_parser(
        "baseline", help="train and evaluate the handbook's baseline models",
        description="Chapter 3 baseline of the Fraud Detection Handbook: 7 training days from "
                    "--start, 7 unused delay days, 7 test days without known compromised cards.",
    )
    base.add_argument("--transactions", type=Path, required=True,
                      help="raw or transformed transactions (.csv, .csv.gz, .parquet)")
    base.add_argument("--start", default=BASELINE_START.isoformat(),
                      help=f"first training day, ISO date ({BASELINE_START.isoformat()})")
    base.add_argument("--models", default=",".join(BASELINE_MODELS),
                      help=f"comma-separated subset of {','.join(BASELINE_MODELS)}")
    base.add_argument("--json", action="store_true", help="print a JSON list instead of a table")
    base.set_defaults(handler=_baseline)

    preq = subparsers.add_parser(
        "prequential", help="prequential validation of a baseline model (4 folds)",
        description="Chapter 5 prequential validation of the Fraud Detection Handbook: 4 folds "
                    "of 7 training, 7 delay and 7 assessment days; fold i starts 7 i days "
                    "before --start-training; known compromised cards removed as in Chapter 3.",
    )
    preq.add_argument("--transactions", type=Path, required=True,
                      help="raw or transformed transactions (.csv, .csv.gz, .parquet)")
    preq.add_argument("--model", required=True,
                      help=f"one of {','.join(BASELINE_MODELS)} (or a comma-separated list)")
    preq.add_argument("--start-training", required=True,
                      help="first training day of fold 0 (the latest), ISO date; the book: "
                           "2018-07-11 (validation), 2018-08-15 (test)")
    preq.add_argument("--json", action="store_true", help="print a JSON list instead of a table")
    preq.set_defaults(handler=_prequential)


def _generate(args: argparse.Namespace) -> int:
    from tinybots.generator import generate_transactions

    check_output_path(args.out, "--out")  # fail before a long run, not after it
    if args.n_jobs is not None and args.n_jobs < 1:
        raise InputError(f"--n-jobs must be >= 1, got {args.n_jobs}")
    config = _config(args)
    if args.out.exists():
        print(f"tinybots generate: {args.out} exists and will be replaced", file=sys.stderr)
    started = time.perf_counter()
    frame = generate_transactions(config, n_jobs=args.n_jobs, progress=args.progress)
    elapsed = time.perf_counter() - started
    write_transactions(frame, args.out)
    n, frauds = len(frame), int(frame["TX_FRAUD"].sum())
    rate = 100 * frauds / n if n else 0.0
    print(f"wrote {n:,} transactions ({frauds:,} frauds, {rate:.4f} %) over {args.days} days "
          f"from {config.start_date} to {args.out} in {elapsed:.1f} s")
    return 0


_FLAGS = {name: f"{flag} ({name})" for name, flag in (
    ("n_customers", "--customers"), ("n_terminals", "--terminals"), ("nb_days", "--days"),
    ("start_date", "--start"), ("radius", "--radius"))}


def _config(args: argparse.Namespace) -> object:
    """The generator config from the options; errors name the option and the field."""
    import pydantic

    from tinybots.generator import HandbookConfig

    try:
        return HandbookConfig(
            n_customers=args.customers, n_terminals=args.terminals, nb_days=args.days,
            start_date=args.start, radius=args.radius,
        )
    except pydantic.ValidationError as exc:
        raise InputError(describe_validation_error(exc, _FLAGS)) from exc


def _baseline(args: argparse.Namespace) -> int:
    models = tuple(m.strip() for m in args.models.split(",") if m.strip())
    if not models:
        raise InputError(f"--models must name at least one of {', '.join(BASELINE_MODELS)}")
    for name in models:
        make_model(name)  # unknown names and dates fail before the (slow) read
    start = parse_date(args.start, "--start (start_date)")
    transactions = read_transactions(args.transactions)
    try:
        table = run_baseline(transactions, start_date=start, models=models)
    except InputError as exc:  # name the option, as the other errors of this command do
        text = str(exc)
        if text.startswith("start_date:"):
            raise InputError(f"--start (start_date):{text[len('start_date:'):]}") from None
        raise
    if args.json:
        records = table.loc[:, list(JSON_KEYS)].to_dict(orient="records")
        print(json.dumps([{k: r[k] for k in JSON_KEYS} for r in records], indent=2))
    else:
        print(table.loc[:, list(JSON_KEYS)].to_string(index=False, float_format="{:.3f}".format))
    return 0


def _prequential(args: argparse.Namespace) -> int:
    models = tuple(m.strip() for m in args.model.split(",") if m.strip())
    if not models:
        raise InputError(f"--model must name one of {', '.join(BASELINE_MODELS)}")
    for name in models:
        try:
            make_model(name)  # unknown names and dates fail before the (slow) read
        except InputError as exc:
            raise InputError(f"--model (model): {exc}") from None
    start = parse_date(args.start_training, "--start-training (start_training)")
    transactions = read_transactions(args.transactions)
    results = []
    for name in models:
        try:
            results.append(run_prequential(transactions, start_training=start, model=name))
        except InputError as exc:
            text = str(exc)
            if text.startswith("start_training:"):
                text = f"--start-training (start_training):{text[len('start_training:'):]}"
                raise InputError(text) from None
            raise
    if args.json:
        keys = (*JSON_KEYS, *(f"{m}_std" for m in METRICS))
        print(json.dumps([{k: r.summary[k] for k in keys} for r in results], indent=2))
        return 0
    for i, result in enumerate(results):
        print(("\n" if i else "") + _prequential_table(result, METRICS))
    return 0


def _prequential_table(result: PrequentialResult, metrics: tuple[str, ...]) -> str:
    """The per-fold table with a last row ``mean ± std`` (3 decimals)."""
    folds, summary = result.folds, result.summary
    shown = folds.loc[:, ["fold", "train_start", "assessment_start", "assessment_end",
                          *metrics]].astype(str)
    for m in metrics:
        shown[m] = folds[m].map("{:.3f}".format)
    last = {"fold": "mean ± std", "train_start": "", "assessment_start": "",
            "assessment_end": ""}
    last |= {m: f"{summary[m]:.3f} ± {summary[m + '_std']:.3f}" for m in metrics}
    shown = pd.concat([shown, pd.DataFrame([last])], ignore_index=True)
    return f"model {summary['model']}\n" + shown.to_string(index=False)


__all__ = ["JSON_KEYS", "add_subcommands"]
