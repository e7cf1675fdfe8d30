"""Reads the committed results files and renders them for the book's appendix page.

The page ``book/performance.md`` calls these functions at build time; it never reruns a
benchmark. Every function accepts ``None`` for a results file that does not exist yet and
then says so instead of failing.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

__all__ = [
    "NOT_MEASURED",
    "PAGE",
    "RESULTS",
    "chapters_table",
    "conditional_tables",
    "drift_table",
    "flows_settings",
    "flows_tables",
    "goals_list",
    "load_results",
    "operations_table",
    "plot_gap_vs_time",
    "run_summary",
    "transport_tables",
]

RESULTS = Path(__file__).resolve().parent / "results"
# The appendix page, which the runner touches after writing results so that the next book
# build reads it again (it is executed on every read, never from the cache).
PAGE = Path(__file__).resolve().parents[1] / "book" / "performance.md"
NOT_MEASURED = "*Not measured yet*: run `make bench` and commit `benchmarks/results/`."


def load_results(name: str, directory: str | Path = RESULTS) -> dict | None:
    """The results of group ``name`` (``directory/<name>.json``), or None if never measured.

    A file that exists but is not valid JSON raises ``ValueError``: a committed results file
    must parse, and the book build should say so.
    """
    path = Path(directory) / f"{name}.json"
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as error:
        raise ValueError(f"{path} is not valid JSON: {error}") from error


def _number(value: float | None, digits: int = 3) -> str:
    if value is None or not math.isfinite(value):
        return "n/a"
    return f"{value:.{digits}f}"


def _median(result: dict, figure: str) -> float | None:
    return result.get("figures", {}).get(figure, {}).get("median")


def run_summary(record: dict | None) -> str:
    """One paragraph: when, on what machine, with which software and load the run happened."""
    if record is None:
        return NOT_MEASURED
    machine, software = record["machine"], record["software"]
    load = record.get("load_average") or {}
    git = record.get("git") or {}
    commit = (git.get("commit") or "unknown")[:10]
    if git.get("dirty"):
        commit += " with uncommitted changes"
    start, end = load.get("start"), load.get("end")
    loads = (
        f"load average (1, 5, 15 min) {start} at the start and {end} at the end"
        if start and end
        else "load average not available"
    )
    libraries = ", ".join(f"{k} {v}" for k, v in software.items() if k != "python")
    kind = "" if record.get("complete", True) else " (a partial run)"
    return (
        f"Measured{kind} on {record['date'].replace('T', ' ').removesuffix('Z')} UTC, on "
        f"{machine.get('cpu_model') or 'an unknown CPU'} ({machine.get('cpu_count')} CPUs, "
        f"{machine.get('platform')}), Python {software.get('python')}, "
        f"{record['threads']} torch thread(s), {record['repeats']} repeat(s) per case; "
        f"{loads}; commit {commit}; {libraries}.{_updates(record)}"
    )


def _updates(record: dict) -> str:
    """The cases measured again since the run (``python -m benchmarks.run --update``)."""
    lines = []
    for update in record.get("updates", []):
        git = update.get("git") or {}
        commit = (git.get("commit") or "unknown")[:10]
        load = (update.get("load_average") or {}).get("start")
        lines.append(
            f" Measured again on {update['date'].replace('T', ' ').removesuffix('Z')} UTC "
            f"(commit {commit}{', load average ' + str(load) if load else ''}): "
            + ", ".join(f"`{case}`" for case in update["cases"])
            + "."
        )
    return "".join(lines)


def goals_list(record: dict | None) -> str:
    """The goals of a run as a bullet list: target, measured value, met or not."""
    if record is None:
        return NOT_MEASURED
    # Goals name data sets by id ("two_moons"); readers see their labels ("two moons").
    labels = {r["dataset"]: r["dataset_label"] for r in record["results"] if "dataset_label" in r}
    lines = []
    for goal in record.get("goals", []):
        measured = goal.get("measured_nats")
        text = goal["goal"]
        for dataset, label in labels.items():
            text = text.replace(f" {dataset}", f" {label}")
        if "worse_than_realnvp_by_nats" in goal:
            worse = goal["worse_than_realnvp_by_nats"]
            lines.append(
                f"- {text}: planar gap {_number(measured)} nats, "
                f"{_number(worse)} nats above RealNVP."
            )
        elif "best_peer" in goal:
            verdict = "**met**" if goal["met"] else "**not met**"
            lines.append(
                f"- {text}: {verdict}; {_number(goal['nats_above_best_peer'])} nats above "
                f"{goal['best_peer']}, {goal['time_ratio_to_fastest_peer']:.2f}x the time of "
                f"{goal['fastest_peer']}."
            )
        elif "over_budget" in goal:
            over = ", ".join(goal["over_budget"]) or "none"
            lines.append(f"- {text}: {'met' if goal['met'] else 'not met'} (over budget: {over}).")
        else:
            verdict = {True: "**met**", False: "**not met**", None: "not measured"}[goal["met"]]
            lines.append(f"- {text}: {verdict}, measured {_number(measured)} nats.")
    return "\n".join(lines) or "No goals recorded."


def flows_settings(record: dict | None) -> str:
    """One sentence: the training and test settings every flow of the run shared.

    Empty without results (the run summary beside it already says "not measured yet").
    """
    if record is None:
        return ""
    s = record["settings"]
    planar = ""
    if "planar_steps" in s:
        rate = s.get("planar_learning_rate", s["learning_rate"])
        planar = f" (the planar flow: {s['planar_steps']:,} steps, learning rate {rate:g})"
    return (
        f"Every flow saw {s['train_size']:,} training points and was scored on "
        f"{s['test_size']:,} test points; {s['optimizer']} with learning rate "
        f"{s['learning_rate']:g} and a {s['schedule']}, mini-batches of {s['batch_size']}, "
        f"{s['steps']:,} steps{planar}; the goal is a gap of at most {s['goal_nats']} nats."
    )


def _status(result: dict) -> str:
    # Words only: the book's tests reject pages whose outputs show exception names.
    return {"skipped": "not installed", "timeout": "too slow, stopped"}.get(
        result["status"], result["status"]
    )


def flows_tables(record: dict | None) -> str:
    """One Markdown table per data set: every model's gap, its precision, and its speed."""
    if record is None:
        return NOT_MEASURED
    datasets: dict[str, list[dict]] = {}
    for result in record["results"]:
        datasets.setdefault(result["dataset"], []).append(result)
    header = (
        "| model | library | steps | parameters | NLL − H (nats) | ± s.e. | paired KL (nats) "
        "| ms / step | s / 1000 steps | training s |\n"
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"
    )
    blocks = []
    for results in datasets.values():
        first = results[0]
        entropy = next((r["true_entropy"] for r in results if "true_entropy" in r), None)
        title = f"**{first.get('dataset_label', first['dataset'])}** "
        title += f"(true entropy {_number(entropy, 4)} nats)" if entropy is not None else ""
        rows = []
        ranked = sorted(
            results, key=lambda r: (_median(r, "nll_gap") is None, _median(r, "nll_gap") or 0)
        )
        for r in ranked:
            if r["status"] != "ok":
                rows.append(f"| {r['model']} | {r['library']} | | | {_status(r)} | | | | | |")
                continue
            rows.append(
                f"| {r['model']} | {r['library']} | {r['steps']} | {r['parameters']:,} "
                f"| {_number(_median(r, 'nll_gap'))} "
                f"| {_number(_median(r, 'nll_standard_error'))} "
                f"| {_number(_median(r, 'kl_paired'))} "
                f"| {_number(_median(r, 'ms_per_step'), 1)} "
                f"| {_number(_median(r, 'seconds_per_1000_steps'), 1)} "
                f"| {_number(_median(r, 'train_seconds'), 1)} |"
            )
        blocks.append(f"{title}\n\n{header}\n" + "\n".join(rows))
    return "\n\n".join(blocks)


def plot_gap_vs_time(record: dict | None, axes=None):
    """NLL gap against milliseconds per step, one panel per data set, one legend.

    The gap axis is logarithmic; gaps below 0.005 nats are drawn at 0.005. Each model keeps
    its colour and marker in every panel. Without results the panel says so.

    Returns:
        The matplotlib figure.
    """
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    if record is None:
        figure, axis = plt.subplots(figsize=(6, 1.5))
        axis.text(0.5, 0.5, "not measured yet: run make bench", ha="center", va="center")
        axis.set_axis_off()
        return figure
    datasets: dict[str, list[dict]] = {}
    for result in record["results"]:
        if result["status"] == "ok":
            datasets.setdefault(result["dataset"], []).append(result)
    panels = max(len(datasets), 1)
    if axes is None:
        figure, axes = plt.subplots(1, panels, figsize=(4.6 * panels, 3.8), squeeze=False)
        axes = axes[0]
    figure = axes[0].figure
    models = sorted({(r["library"], r["model"]) for rs in datasets.values() for r in rs})
    libraries = sorted({library for library, _ in models})
    colours = plt.get_cmap("tab10")
    style = {
        model: {
            "color": colours(k % 10),
            "marker": "osD^vP*X"[libraries.index(model[0]) % 8],
            "label": f"{model[0]} {model[1]}",
        }
        for k, model in enumerate(models)
    }
    goal = record.get("settings", {}).get("goal_nats")
    for axis, (name, results) in zip(axes, datasets.items(), strict=False):
        for r in results:
            x, y = _median(r, "ms_per_step"), max(_median(r, "nll_gap"), 0.005)
            axis.scatter(x, y, s=55, **style[r["library"], r["model"]])
        if goal:
            axis.axhline(goal, color="grey", linestyle="--", linewidth=1)
        axis.set_yscale("log")
        axis.yaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
        axis.yaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
        axis.yaxis.set_minor_formatter(NullFormatter())
        axis.set_xlabel("ms per training step")
        axis.set_ylabel("held-out NLL − entropy (nats)")
        axis.set_title(results[0].get("dataset_label", name))
        axis.grid(alpha=0.3)
    handles: dict = {}
    for axis in axes:
        for handle, label in zip(*axis.get_legend_handles_labels(), strict=True):
            handles.setdefault(label, handle)
    figure.legend(
        handles.values(),
        handles.keys(),
        loc="lower center",
        ncol=min(len(models), 4),
        frameon=False,
    )
    figure.tight_layout(rect=(0, 0.08 * ((len(models) + 3) // 4), 1, 1))
    return figure


def chapters_table(record: dict | None) -> str:
    """Each chapter's execution seconds in the cold build."""
    if record is None:
        return NOT_MEASURED
    book = next((r for r in record["results"] if r["id"] == "book"), None)
    if book is None or book["status"] != "ok":
        return NOT_MEASURED if book is None else f"The book build {_status(book)}."
    rows = [
        f"| `{name.split('/', 1)[1]}` | {_number(figure['median'], 1)} |"
        for name, figure in book["figures"].items()
        if name.startswith("chapter_seconds/")
    ]
    return "| chapter | execution s |\n|---|---:|\n" + "\n".join(rows)


def operations_table(record: dict | None) -> str:
    """Cold and warm book builds, and autograding seconds per submission."""
    if record is None:
        return NOT_MEASURED
    rows = []
    for r in record["results"]:
        if r["status"] != "ok":
            rows.append(f"| {r['id']} | {_status(r)} | |")
        elif r["id"] == "book":
            rows.append(
                f"| cold book build | {_number(_median(r, 'cold_build_seconds'), 1)} | "
                "fresh copy without `_build`, every chapter executed |"
            )
            rows.append(
                f"| warm book build | {_number(_median(r, 'warm_build_seconds'), 1)} | "
                "the same build again (execution cache) |"
            )
        elif r["id"] == "sandbox":
            rows.append(
                f"| grading sandbox | {_number(_median(r, 'isolation_overhead_seconds'), 2)} "
                "per submission | a sandboxed kernel's start, one cell and shutdown "
                f"({_number(_median(r, 'sandboxed_kernel_seconds'), 2)} s) against a plain "
                f"kernel's ({_number(_median(r, 'plain_kernel_seconds'), 2)} s) |"
            )
        elif r["id"] == "test_suite":
            rows.append(
                f"| test suite (`make test`) | {_number(_median(r, 'test_suite_seconds'), 0)} | "
                f"{r['summary']}; environment already installed |"
            )
        elif r["id"].startswith("class/"):
            seconds = _median(r, "class_seconds")
            rows.append(
                f"| grade a class of {r['submissions']} (`{r['assignment']}`) | "
                f"{_number(_median(r, 'class_seconds_per_submission'), 1)} per submission | "
                f"{_number(seconds / 60, 1)} min in all with {r['jobs']} jobs, "
                f"{_number(_median(r, 'class_submissions_per_minute'), 1)} submissions per "
                f"minute; {r['mix']}; {r['full_marks']} with full marks |"
            )
        else:
            two_jobs = _median(r, "seconds_per_submission_2_jobs")
            notes = f"{r['submissions']} submissions, 1 job"
            if two_jobs is not None:
                notes += (
                    f"; 2 jobs: {_number(two_jobs, 1)} s per submission, "
                    f"{_number(_median(r, 'speedup_2_jobs'), 2)}x faster"
                )
            if r.get("sandboxed"):
                notes += "; sandboxed"
            rows.append(
                f"| grade `{r['assignment']}` | "
                f"{_number(_median(r, 'seconds_per_submission'), 1)} per submission | {notes} |"
            )
    return "| operation | seconds | notes |\n|---|---:|---|\n" + "\n".join(rows)


def transport_tables(record: dict | None) -> str:
    """The transport group: step times per batch, then each fit comparison on fresh samples."""
    if record is None:
        return NOT_MEASURED
    steps = [
        "| batch | ms / fitting step | geomloss value + gradient ms | course_lib ms "
        "| course_lib iterations | course_lib − geomloss |",
        "|---:|---:|---:|---:|---:|---:|",
    ]
    fits = []
    for r in record["results"]:
        kind, _, name = r["id"].partition("/")
        if kind == "step_time":
            batch = name.removeprefix("batch_")
            if r["status"] != "ok":
                steps.append(f"| {batch} | {_status(r)} | | | | |")
                continue
            steps.append(
                f"| {batch} | {_number(_median(r, 'ms_per_step'), 1)} "
                f"| {_number(_median(r, 'geomloss_ms'), 1)} "
                f"| {_number(_median(r, 'course_lib_ms'), 1)} "
                f"| {_number(_median(r, 'course_lib_iterations'), 0)} "
                f"| {_number(_median(r, 'course_lib_minus_geomloss'), 4)} |"
            )
        elif kind == "fit":
            title = f"**{name.replace('_', ' ')}**"
            if r["status"] != "ok":
                fits.append(f"{title}: {_status(r)}.")
                continue
            rows = [
                "| model | sliced W2 | Sinkhorn | NLL − H (nats) | steps | training s |",
                "|---|---:|---:|---:|---:|---:|",
            ]
            for model, label in (
                ("pushforward", "pushforward generator, Sinkhorn"),
                ("realnvp", "RealNVP, maximum likelihood"),
                ("floor", "two data samples (floor)"),
            ):
                gap = _median(r, f"nll_gap/{model}")
                count = _median(r, f"steps/{model}")
                rows.append(
                    f"| {label} | {_number(_median(r, f'sliced_w2/{model}'), 4)} "
                    f"| {_number(_median(r, f'sinkhorn/{model}'), 4)} "
                    f"| {'' if gap is None else _number(gap)} "
                    f"| {'' if count is None else f'{count:,.0f}'} "
                    f"| {_number(_median(r, f'train_seconds/{model}'), 1)} |"
                )
            fits.append(title + "\n\n" + "\n".join(rows))
    blocks = ["\n".join(steps)] if len(steps) > 2 else []
    return "\n\n".join(blocks + fits) or NOT_MEASURED


def drift_table(record: dict | None) -> str:
    """The drift group: each model and configuration's cross-validated test log-score (mean
    and standard deviation over the folds) beside the paper's, with minutes and epochs per
    fold, then the goals."""
    if record is None:
        return NOT_MEASURED
    rows = [
        "| model | learning rate | epochs at most | test log-score, mean (std) | paper "
        "| minutes per fold | epochs per fold |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in record["results"]:
        label = r.get("label", r["id"])
        rate = "" if r.get("lr") is None else f"{r['lr']:g}"
        if r["status"] != "ok":
            rows.append(f"| {label} | {rate} | | {_status(r)} | | | |")
            continue
        paper = r.get("paper")
        rows.append(
            f"| {label} | {rate} | {r['max_epochs']} "
            f"| {_number(_median(r, 'log_score'), 2)} "
            f"({_number(_median(r, 'log_score_std'), 2)}) "
            f"| {'' if not paper else f'{paper[0]:.1f} ({paper[1]:.1f})'} "
            f"| {_number(_median(r, 'minutes_per_fold'), 2)} "
            f"| {_number(_median(r, 'epochs_per_fold'), 0)} |"
        )
    lines = []
    for goal in record.get("goals", []):
        verdict = {True: "**met**", False: "**not met**", None: "not measured"}[goal["met"]]
        if "measured" in goal:
            where = goal.get("best_configuration") or "none"
            detail = f"best {_number(goal['measured'], 2)} ({where})"
        else:
            where = goal.get("configuration")
            detail = (
                f"{where}, {_number(goal['minutes_per_fold'], 2)} minutes per fold"
                if where
                else "no configuration reached it"
            )
        lines.append(f"- {goal['goal']}: {verdict}; {detail}.")
    return "\n".join(rows) + ("\n\n" + "\n".join(lines) if lines else "")


_HEAD_LABELS = {
    "diagonal": "diagonal Gaussian",
    "full": "full Gaussian",
    "flow": "conditional spline flow",
}


def conditional_tables(record: dict | None) -> str:
    """The conditional group: one row per head (test NLL, seconds per epoch), one table of
    calibration and accuracy per label, then the goals."""
    if record is None:
        return NOT_MEASURED
    labels: list[str] = []
    for r in record["results"]:
        for name in r.get("figures", {}):
            kind, _, label = name.partition("/")
            if kind == "pull_std" and label not in labels:
                labels.append(label)
    timing = next((r for r in record["results"] if r["id"] == "step_time"), None)
    heads = [
        "| head | test NLL (nats) | s / epoch | ms / step (interleaved) | time ratio "
        "| best epoch | parameters (head) |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    per_label = {
        label: [
            f"**{label}**\n",
            "| head | pull mean | pull std | 68% coverage | 95% coverage | PIT KS "
            "| 68% / 95% coverage, low SNR | R² |",
            "|---|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for label in labels
    }
    for r in record["results"]:
        if r["id"] == "step_time":
            continue
        head = r.get("head", "")
        name = _HEAD_LABELS.get(head, r["id"])
        if r["status"] != "ok":
            heads.append(f"| {name} | {_status(r)} | | | | | |")
            continue
        step_ms = ratio = "n/a"
        if timing is not None and timing["status"] == "ok":
            step_ms = _number(_median(timing, f"ms_per_step/{head}"), 1)
            ratio = _number(_median(timing, f"time_ratio/{head}"), 2) + "x"
        parameters = f"{r.get('parameters', 0):,} ({r.get('head_parameters', 0):,})"
        heads.append(
            f"| {name} | {_number(_median(r, 'nll'))} "
            f"| {_number(_median(r, 'seconds_per_epoch'), 1)} | {step_ms} | {ratio} "
            f"| {_number(_median(r, 'best_epoch'), 0)} | {parameters} |"
        )
        for label in labels:
            per_label[label].append(
                f"| {name} | {_number(_median(r, f'pull_mean/{label}'), 2)} "
                f"| {_number(_median(r, f'pull_std/{label}'), 2)} "
                f"| {_number(_median(r, f'coverage68/{label}'), 3)} "
                f"| {_number(_median(r, f'coverage95/{label}'), 3)} "
                f"| {_number(_median(r, f'pit_ks/{label}'), 3)} "
                f"| {_number(_median(r, f'low_snr_coverage68/{label}'), 3)} / "
                f"{_number(_median(r, f'low_snr_coverage95/{label}'), 3)} "
                f"| {_number(_median(r, f'r2/{label}'), 3)} |"
            )
    verdicts = {True: "**met**", False: "**not met**", None: "not measured"}
    goals = []
    for goal in record.get("goals", []):
        detail = ""
        if goal.get("time_ratio") is not None:
            detail = f" ({goal['time_ratio']:.2f}x)"
        elif goal.get("calibration_score"):
            detail = (
                " (calibration score "
                + ", ".join(
                    f"{head} {_number(value, 2)}"
                    for head, value in goal["calibration_score"].items()
                )
                + ")"
            )
        elif goal.get("nll"):
            detail = (
                " ("
                + ", ".join(f"{head} {_number(value)}" for head, value in goal["nll"].items())
                + ")"
            )
        goals.append(f"- {goal['goal']}: {verdicts[goal['met']]}{detail}.")
    blocks = ["\n".join(heads)] + ["\n".join(rows) for rows in per_label.values()]
    if goals:
        blocks.append("\n".join(goals))
    return "\n\n".join(blocks)
