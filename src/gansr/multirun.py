"""The summary of a multirun (``gansr-train -m ...``): one row per job with its overrides and final validation metrics.

Written to ``<sweep dir>/summary.csv`` and ``summary.md`` and printed, from the job folders alone:
``<sweep dir>/<job>/.hydra/overrides.yaml`` (the job's command-line overrides, written by Hydra) and
``<sweep dir>/<job>/final_metrics.json`` (the last validation, written by
:class:`gansr.training.console.IterationLog`). Because it reads only the folders, it works with any Hydra launcher
(the basic one runs the jobs in this process; submitit/SLURM runs them elsewhere and Hydra still calls
:class:`MultirunSummary` in the submitting process once every job has ended) and can be made again at any time:

    python -m gansr.multirun multirun/train/2026-12-04_18-00-00
"""
from __future__ import annotations

import argparse
import csv
import io
import json
from pathlib import Path

from gansr.utils.atomic import write_text_atomic

__all__ = ["MultirunSummary", "collect_jobs", "write_summary"]

try:  # Hydra is a dependency of gansr-train; the module stays importable (and the CLI usable) without it
    from hydra.experimental.callback import Callback as _HydraCallback
except ImportError:  # pragma: no cover
    _HydraCallback = object


def _read_overrides(job_dir: Path) -> dict[str, str]:
    """``<job>/.hydra/overrides.yaml`` (a YAML list of ``key=value`` strings) -> ``{key: value}`` in order; read
    as capped plain data (:func:`gansr.utils.yaml_data.read_yaml_data`: an alias bomb is refused, not expanded)."""
    from gansr.utils.yaml_data import read_yaml_data

    items = read_yaml_data(job_dir / ".hydra" / "overrides.yaml") or []
    return dict(str(item).split("=", 1) if "=" in str(item) else (str(item), "") for item in items)


def _job_sort_key(job_dir: Path) -> tuple[int, str]:
    return (int(job_dir.name), "") if job_dir.name.isdigit() else (1 << 30, job_dir.name)


def collect_jobs(sweep_dir: str | Path) -> list[dict]:
    """One dict per job folder of ``sweep_dir`` (folders with ``.hydra/overrides.yaml``), by job number:
    ``{"job", "overrides": {key: value}, "iteration", "validated_at", "metrics": {name: value}, "status"}``;
    ``status`` is ``done`` or says what is missing (a job that failed, or still runs)."""
    jobs = []
    for job_dir in sorted((p.parent.parent for p in Path(sweep_dir).glob("*/.hydra/overrides.yaml")), key=_job_sort_key):
        record = {"job": job_dir.name, "overrides": _read_overrides(job_dir), "iteration": None,
                  "validated_at": None, "metrics": {}, "status": "done"}
        metrics_file = job_dir / "final_metrics.json"
        if metrics_file.is_file():
            final = json.loads(metrics_file.read_text())
            record.update(iteration=final.get("iteration"), validated_at=final.get("validated_at"),
                          metrics=final.get("metrics") or {})
            if not record["metrics"]:
                record["status"] = "no validation"
        else:
            record["status"] = "no final_metrics.json (failed or still running)"
        jobs.append(record)
    return jobs


def _fmt(value: object) -> str:
    if isinstance(value, float):
        return f"{value:.4f}"
    return "" if value is None else str(value)


def write_summary(sweep_dir: str | Path) -> str:
    """Write ``<sweep_dir>/summary.csv`` and ``summary.md`` from the job folders; returns the Markdown text.

    Columns: job, each override key that differs between jobs, the metrics, the iteration, status; the overrides
    every job shares are listed once above the Markdown table (all overrides are in the CSV)."""
    sweep_dir = Path(sweep_dir)
    jobs = collect_jobs(sweep_dir)
    keys = list(dict.fromkeys(k for job in jobs for k in job["overrides"]))
    varying = [k for k in keys if len({job["overrides"].get(k) for job in jobs}) > 1] or keys[-1:]
    common = [k for k in keys if k not in varying and all(k in job["overrides"] for job in jobs)]
    metric_names = list(dict.fromkeys(m for job in jobs for m in job["metrics"]))

    table = io.StringIO(newline="")
    writer = csv.writer(table)
    writer.writerow(["job", *keys, *metric_names, "iteration", "validated_at", "status"])
    for job in jobs:
        writer.writerow([job["job"], *(job["overrides"].get(k, "") for k in keys),
                         *(job["metrics"].get(m, "") for m in metric_names),
                         _fmt(job["iteration"]), _fmt(job["validated_at"]), job["status"]])

    header = ["job", *varying, *metric_names, "iteration", "status"]
    lines = [f"# Multirun summary: {sweep_dir}", ""]
    if common:
        lines += ["Every job: " + " ".join(f"`{k}={jobs[0]['overrides'][k]}`" for k in common), ""]
    lines += [f"Final validation metrics ({len(jobs)} job(s); each job's last validation, at the iteration shown).", ""]
    lines += ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for job in jobs:
        cells = [job["job"], *(job["overrides"].get(k, "") for k in varying),
                 *(_fmt(job["metrics"].get(m)) for m in metric_names),
                 _fmt(job["validated_at"] if job["validated_at"] is not None else job["iteration"]), job["status"]]
        lines.append("| " + " | ".join(cells) + " |")
    text = "\n".join(lines) + "\n"
    write_text_atomic(sweep_dir / "summary.csv", table.getvalue())
    write_text_atomic(sweep_dir / "summary.md", text)
    return text


class MultirunSummary(_HydraCallback):
    """Hydra callback (``hydra.callbacks`` in ``conf/train.yaml``): after the last job of a multirun, write and print
    the summary of the sweep folder."""

    def on_multirun_end(self, config, **kwargs) -> None:
        sweep_dir = Path(config.hydra.sweep.dir)
        if not sweep_dir.is_dir():
            return
        text = write_summary(sweep_dir)
        print(f"\n{text}\n[gansr] multirun summary: {sweep_dir / 'summary.md'} and {sweep_dir / 'summary.csv'}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("sweep_dir", type=Path, help="a multirun folder (multirun/<task>/<date>)")
    args = parser.parse_args(argv)
    if not args.sweep_dir.is_dir():
        raise SystemExit(f"{args.sweep_dir}: no such folder (give a multirun folder, e.g. multirun/train/<date>)")
    if not list(args.sweep_dir.glob("*/.hydra/overrides.yaml")):
        raise SystemExit(f"{args.sweep_dir}: no job folders (<job>/.hydra/overrides.yaml) in it")
    print(write_summary(args.sweep_dir))


if __name__ == "__main__":
    main()
