"""The paper figures (Agarwal et al. 2021 style), PNG and PDF, via rliable's plotting helpers.

`make_figures` writes into one folder:
- `aggregates`: IQM, median, mean, optimality gap of HNS with 95% stratified bootstrap CIs;
- `performance_profiles`: fraction of runs with HNS > tau, with CIs;
- `probability_of_improvement`: P(first algorithm > each other), with CIs;
- `sample_efficiency`: IQM HNS vs frames for inputs with learning curves, Dopamine Rainbow and
  IQN (and any requested Dopamine agent) where the frame axes overlap, and on the full
  Dopamine axis (log frames) beside it; Atari 100k baselines as their final point;
- `learning_curves`: per-game mean evaluation return vs frames;
and `figures.txt`: how every figure was computed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.ticker import EngFormatter  # noqa: E402
import numpy as np  # noqa: E402
from analysis import aggregate as agg  # noqa: E402
from analysis.baselines import FRAMES_PER_STEP, IQN_NOTE, Baseline, dopamine_curves  # noqa: E402
from analysis.normalize import add_hns  # noqa: E402
from analysis.scores import ScoreData  # noqa: E402
from analysis.table import ScoreTable, build_table, protocol_lines  # noqa: E402
from atari100k.fileio import atomic_write, atomic_write_text  # noqa: E402

TAUS = np.linspace(0.0, 8.0, 81)
POI_MAX_REPS = 1000  # P(improvement) runs a Mann-Whitney test per game and rep: cap its cost


def _colors(algorithms: Sequence[str]) -> dict[str, tuple]:
    palette = plt.get_cmap("tab10").colors + plt.get_cmap("Dark2").colors
    return {a: palette[i % len(palette)] for i, a in enumerate(algorithms)}


def _save(fig: plt.Figure, out: Path, name: str, written: list[Path]) -> None:
    for ext in ("png", "pdf"):
        path = out / f"{name}.{ext}"
        atomic_write(path, lambda handle, e=ext: fig.savefig(handle, format=e, dpi=150, bbox_inches="tight"),
                     mode="wb")
        written.append(path)
    plt.close(fig)


def _footer(fig: plt.Figure, text: str) -> None:
    fig.text(0.0, -0.02, text, ha="left", va="top", fontsize=7, wrap=True, color="0.3")


def _user_curves(data: ScoreData, table: ScoreTable) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """algorithm -> (steps, HNS `[runs, games, points]`) on the steps every run evaluated."""
    out = {}
    frame = data.frame[data.frame["game"].isin(table.games) & data.frame["step"].notna()]
    for algorithm, rows in frame.groupby("algorithm", sort=False):
        rows = add_hns(rows)
        common = None
        for _, run in rows.groupby(["game", "seed"]):
            common = set(run["step"]) if common is None else common & set(run["step"])
        steps = np.array(sorted(common or []))
        games = [g for g in table.games if (rows["game"] == g).any()]
        if len(steps) < 2 or not games:
            continue
        runs = [sorted(set(rows.loc[rows["game"] == g, "seed"])) for g in games]
        n = min(len(r) for r in runs)
        cube = np.empty((n, len(games), len(steps)))
        for j, (g, seeds) in enumerate(zip(games, runs)):
            sub = rows[rows["game"] == g].set_index(["seed", "step"])["hns"]
            for i, s in enumerate(seeds[:n]):
                cube[i, j] = sub.loc[s].reindex(steps).to_numpy()
        out[algorithm] = (steps, cube)
    return out


def _dopamine_cube(key: str, games: Sequence[str]) -> np.ndarray:
    """HNS `[5 seeds, games, 199 iterations]` of one Dopamine agent."""
    rows = dopamine_curves()
    rows = add_hns(rows[(rows["algorithm"] == key) & rows["game"].isin(games)])
    pivot = rows.pivot_table(index=["seed", "game"], columns="iteration", values="hns")
    seeds = sorted(rows["seed"].unique())
    return np.stack([np.stack([pivot.loc[(s, g)].to_numpy() for g in games]) for s in seeds])


def make_figures(data: ScoreData, baselines: Sequence[Baseline], out: str | Path, step: int | None = None,
                 allow_partial: bool = False, reps: int = agg.DEFAULT_REPS, seed: int = agg.DEFAULT_SEED
                 ) -> list[Path]:
    """Write every figure (PNG + PDF) and `figures.txt` into `out`.

    Args:
      data: loaded inputs (may be empty when `baselines` is given).
      baselines: shipped baselines; Dopamine Rainbow and IQN are always drawn on the
        sample-efficiency figure (their frame axis), other Dopamine agents when requested.
      step, allow_partial, reps, seed: as for `build_table` (same refusals).
    Returns:
      the paths written.
    """
    out = Path(out)
    table = build_table(data, baselines, step=step, allow_partial=allow_partial, reps=reps, seed=seed)
    out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    algorithms, colors = table.algorithms, _colors(table.algorithms)
    how = (f"{len(table.games)} games; HNS; 95% stratified bootstrap CIs (rliable), {reps} reps, seed {seed}; "
           f"runs per algorithm: " + ", ".join(f"{a} {table.runs[a]}" for a in algorithms))
    captions = {}
    from rliable import plot_utils

    # 1. Aggregate interval estimates.
    points = {a: np.array([table.aggregates[a][m].value for m in agg.METRICS]) for a in algorithms}
    cis = {a: np.array([[table.aggregates[a][m].ci[k] for m in agg.METRICS] for k in (0, 1)]) for a in algorithms}
    fig, _ = plot_utils.plot_interval_estimates(
        points, cis, metric_names=[agg.METRIC_TITLES[m] for m in agg.METRICS], algorithms=algorithms[::-1],
        colors=colors, xlabel="Human Normalized Score", subfigure_width=3.8, row_height=0.55, max_ticks=3,
        xlabel_y_coordinate=-0.35 / max(1, len(algorithms)) - 0.12)
    fig.text(0.0, -0.55 / max(1, len(algorithms)) - 0.2, how, ha="left", va="top", fontsize=8, color="0.3")
    _save(fig, out, "aggregates", written)
    captions["aggregates"] = f"IQM, median, mean, optimality gap (gamma=1) of HNS; {how}"

    # 2. Performance profiles.
    # The usual Atari 100k range is tau in [0, 8]; shrink it when no run gets near 8.
    top = max(float(np.max(m)) for m in table.matrices.values())
    taus = np.linspace(0.0, float(np.clip(np.ceil(top * 1.1), 2.0, TAUS[-1])), len(TAUS))
    profiles, profile_cis = agg.performance_profiles(table.matrices, taus, reps=reps, seed=seed)
    fig, ax = plt.subplots(figsize=(7, 4.5))
    plot_utils.plot_performance_profiles(profiles, taus, performance_profile_cis=profile_cis, colors=colors, ax=ax,
                                         xlabel=r"Human Normalized Score $(\tau)$", labelsize="large",
                                         ticklabelsize="medium")
    ax.legend([plt.Line2D([], [], color=colors[a], lw=2) for a in algorithms], algorithms, fontsize=8,
              loc="upper right", frameon=False)
    ax.set_title("Performance profiles (score distributions)", fontsize=11)
    _footer(fig, how)
    _save(fig, out, "performance_profiles", written)
    captions["performance_profiles"] = f"fraction of runs with HNS > tau, tau in [0, {taus[-1]:g}]; {how}"

    # 3. Probability of improvement: the first algorithm against each other one.
    poi_reps = min(reps, POI_MAX_REPS)
    # Labels may hold commas ("IQN (Dopamine, 0-1M frames)"), so pairs are keyed "X|Y".
    pairs = {f"{algorithms[0]}|{b}": (table.matrices[algorithms[0]], table.matrices[b]) for b in algorithms[1:]
             if table.matrices[b].shape[1] == table.matrices[algorithms[0]].shape[1]}
    fig, ax = plt.subplots(figsize=(5, 0.6 + 0.45 * max(1, len(pairs))))
    if pairs:
        estimates = agg.probability_of_improvement(pairs, reps=poi_reps, seed=seed)
        plot_utils.plot_probability_of_improvement(
            {k: e.value for k, e in estimates.items()},
            {k: np.array([[e.ci[0]], [e.ci[1]]]) for k, e in estimates.items()},
            pair_separator="|", ax=ax, colors=[colors[k.split("|")[1]] for k in estimates], left_ylabel="Algorithm X", right_ylabel="Algorithm Y",
            xlabel="P(X > Y)", labelsize="medium", ticklabelsize="small")
        captions["probability_of_improvement"] = (
            f"P(X > Y) averaged over games (Mann-Whitney U per game), 95% stratified independent bootstrap CIs, "
            f"{poi_reps} reps (capped at {POI_MAX_REPS}), seed {seed}")
    else:
        ax.text(0.5, 0.5, "needs two algorithms on the same games", ha="center", va="center")
        ax.set_axis_off()
        captions["probability_of_improvement"] = "not computed: fewer than two algorithms on the same games"
    _save(fig, out, "probability_of_improvement", written)

    # 4. Sample efficiency: IQM HNS vs frames.
    captions["sample_efficiency"] = _sample_efficiency(data, table, baselines, colors, reps, seed, out, written)

    # 5. Per-game learning curves.
    captions["learning_curves"] = _learning_curves(data, table, baselines, colors, out, written)

    text = "\n".join(f"{name}: {caption}" for name, caption in captions.items())
    text += "\n\nProtocol:\n" + "\n".join(f"- {line}" for line in protocol_lines(table)) + "\n"
    atomic_write_text(out / "figures.txt", text)
    written.append(out / "figures.txt")
    return written


def _dopamine_keys(baselines: Sequence[Baseline]) -> list[str]:
    keys = ["Rainbow", "IQN"] + [b.key for b in baselines if b.kind == "curve"]
    return list(dict.fromkeys(keys))


def _sample_efficiency(data, table, baselines, colors, reps, seed, out, written) -> str:
    curves = _user_curves(data, table)
    dopamine = {k: agg.iqm_curve(_dopamine_cube(k, table.games), reps=reps, seed=seed)
                for k in _dopamine_keys(baselines)}
    dcolors = dict(zip(dopamine, ["0.45", "0.15", "tab:brown", "tab:olive"]))
    xmax = max([table.budget_frames] + [int(s[-1]) * FRAMES_PER_STEP for s, _ in curves.values()])
    user_iqm = {a: (steps * FRAMES_PER_STEP, *agg.iqm_curve(cube, reps=reps, seed=seed), cube.shape[0])
                for a, (steps, cube) in curves.items()}
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.5))
    for ax, log in ((left, False), (right, True)):
        for a, (frames, iqm, ci, n) in user_iqm.items():
            ax.plot(frames, iqm, color=colors[a], lw=2, marker="o", ms=3, label=f"{a} ({n} runs)")
            ax.fill_between(frames, ci[0], ci[1], color=colors[a], alpha=0.2)
        for a in table.algorithms:
            p = table.protocols[a]
            if a in curves or p.get("kind") == "curve" or not isinstance(p.get("budget_frames"), int):
                continue
            e = table.aggregates[a]["iqm"]
            ax.errorbar([p["budget_frames"]], [e.value], yerr=[[e.value - e.ci[0]], [e.ci[1] - e.value]],
                        fmt="s", color=colors[a], ms=5, capsize=3, label=f"{a} (final)")
        for k, (iqm, ci) in dopamine.items():
            # Iteration i averages frames [i*1M, (i+1)*1M): draw it as a step over that span.
            edges = np.arange(len(iqm) + 1) * 1e6
            label = f"Dopamine {k} (sticky 0.25, training returns)"
            ax.stairs(iqm, edges, color=dcolors[k], lw=1.5, ls="--", label=label, baseline=None)
            ax.fill_between(edges, np.r_[ci[0], ci[0][-1]], np.r_[ci[1], ci[1][-1]], step="post",
                            color=dcolors[k], alpha=0.12)
        ax.set_xlabel("Frames" + (" (log scale)" if log else ""))
        ax.set_ylabel("IQM Human Normalized Score")
        ax.grid(alpha=0.3)
        if log:
            ax.set_xscale("log")
            ax.set_xlim(1e5, 2e8)
            ax.set_title("Full Dopamine curves (200M frames)", fontsize=10)
        else:
            ax.set_xlim(0, xmax * 1.05)
            # 400k rather than matplotlib's "4 x 1e5" offset notation.
            ax.xaxis.set_major_formatter(EngFormatter(sep=""))
            # Autoscale would count the Dopamine curves beyond the visible frames.
            visible = [0.1] + [float(np.nanmax(ci[1])) for _, _, ci, _ in user_iqm.values()]
            visible += [table.aggregates[a]["iqm"].ci[1] for a in table.algorithms]
            visible += [float(ci[1][0]) for _, ci in dopamine.values()]
            lows = [0.0] + [float(np.nanmin(ci[0])) for _, _, ci, _ in user_iqm.values()]
            lows += [table.aggregates[a]["iqm"].ci[0] for a in table.algorithms]
            top = max(visible) * 1.15
            ax.set_ylim(min(lows) - 0.03 * top, top)
            ax.set_title(f"Frame budget of the inputs (0-{xmax / 1e6:g}M frames)", fontsize=10)
            ax.ticklabel_format(axis="x", style="sci", scilimits=(5, 5))
    handles, labels = left.get_legend_handles_labels()
    fig.legend(handles, labels, loc="upper center", bbox_to_anchor=(0.5, 0.0), ncol=2, fontsize=8, frameon=False)
    fig.suptitle(f"Sample efficiency: IQM HNS over {len(table.games)} games, 95% CIs\n"
                 f"IQN: {IQN_NOTE}. Dopamine steps average 1M-frame iterations.", fontsize=9, y=1.04)
    _save(fig, out, "sample_efficiency", written)
    return (f"IQM HNS vs frames over {len(table.games)} games; inputs on the steps every run evaluated; "
            f"Dopamine {', '.join(dopamine)} as steps over their 1M-frame iterations (5 seeds, sticky 0.25, "
            f"training returns); final-score baselines as points at their budget; stratified bootstrap "
            f"{reps} reps, seed {seed}. IQN: {IQN_NOTE}")


def _learning_curves(data, table, baselines, colors, out, written) -> str:
    games = table.games
    ncol = min(6, len(games))
    nrow = -(-len(games) // ncol)
    fig, axes = plt.subplots(nrow, ncol, figsize=(2.6 * ncol, 2.1 * nrow + 0.6), squeeze=False)
    frame = data.frame[data.frame["step"].notna()]
    user_frames = (frame["step"].max() * FRAMES_PER_STEP) if len(frame) else 0
    xmax = max(table.budget_frames, user_frames) * 1.05
    curves = dopamine_curves()
    finals = [a for a in table.algorithms
              if a not in set(frame["algorithm"]) and table.protocols[a].get("kind") != "curve"]
    for ax, game in zip(axes.flat, games):
        for a, rows in frame[frame["game"] == game].groupby("algorithm", sort=False):
            by_step = rows.groupby("step")["score"]
            x = by_step.mean().index.to_numpy() * FRAMES_PER_STEP
            ax.plot(x, by_step.mean().to_numpy(), color=colors[a], lw=1.5)
            ax.fill_between(x, by_step.min().to_numpy(), by_step.max().to_numpy(), color=colors[a], alpha=0.2)
        for a in finals:
            cell = table.cells.get((game, a))
            if cell:
                ax.plot([table.protocols[a]["budget_frames"]], [cell["mean"]], "s", color=colors[a], ms=4)
        for k, color in zip(_dopamine_keys(baselines), ["0.45", "0.15", "tab:brown", "tab:olive"]):
            first = curves[(curves["algorithm"] == k) & (curves["game"] == game) & (curves["iteration"] == 0)]
            ax.hlines(first["score"].mean(), 0, 1e6, color=color, ls="--", lw=1)
        ax.set_title(game, fontsize=9)
        ax.set_xlim(0, xmax)
        ax.tick_params(labelsize=6)
        ax.ticklabel_format(axis="x", style="sci", scilimits=(5, 5))
        ax.xaxis.get_offset_text().set_fontsize(6)
        ax.grid(alpha=0.3)
    for ax in list(axes.flat)[len(games):]:
        ax.set_axis_off()
    handles = [plt.Line2D([], [], color=colors[a], lw=2) for a in frame["algorithm"].unique()]
    labels = [f"{a} (mean, min-max over seeds)" for a in frame["algorithm"].unique()]
    handles += [plt.Line2D([], [], color=colors[a], marker="s", ls="") for a in finals]
    labels += [f"{a} (final mean)" for a in finals]
    handles += [plt.Line2D([], [], color=c, ls="--") for c in ["0.45", "0.15", "tab:brown", "tab:olive"]
                [:len(_dopamine_keys(baselines))]]
    labels += [f"Dopamine {k}, mean of frames 0-1M (sticky 0.25)" for k in _dopamine_keys(baselines)]
    fig.legend(handles, labels, loc="upper center", bbox_to_anchor=(0.5, 0.0), ncol=2, fontsize=8, frameon=False)
    fig.supxlabel("Frames", fontsize=9)
    fig.supylabel("Raw game score", fontsize=9)
    fig.tight_layout()
    _save(fig, out, "learning_curves", written)
    return ("per-game raw evaluation return vs frames (mean and min-max over seeds); final-score baselines as "
            "their mean at their budget; Dopamine agents as the mean of iteration 0 (frames 0-1M)")
