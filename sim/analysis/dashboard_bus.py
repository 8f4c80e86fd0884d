"""The bus on the run dashboard: rebalance pauses on the time axis, records shed / lost /
dead-lettered over time with their reasons.

Read from the ``incidents`` frame (``sim.record.incidents``): a ``rebalance`` incident of a
consumer group (``target``) pauses the group's consumption for ``duration_s`` (Kafka's eager
protocol stops every member from the revocation until the new assignment; the cooperative one
only the moved partitions), drawn as a shaded span ``[time_s, time_s + duration_s]`` behind
the lag and latency lines. Drop incidents (``records_shed``, ``records_lost``,
``records_dead_lettered``; detail made by :func:`sim.record.incidents.drop_detail`) become
cumulative step lines per outcome and reason; an outcome with no drop incident falls back to
its ``tinybots_<outcome>_total`` metric. The final counts per outcome, reason and stage come
from the ``transactions`` frame (:func:`drop_reasons`), drawn as a small table.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.legend import Legend
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from sim.record.incidents import DROP_KINDS, drop_count
from sim.topology import PIPELINE

__all__ = [
    "DROP_COLOURS",
    "drop_events",
    "drop_reasons",
    "mark_crashes",
    "draw_drops",
    "draw_reasons_table",
    "has_drops",
    "pause_colours",
    "pause_key",
    "pause_legend",
    "paused_rebalances",
    "rebalance_pauses",
    "shade_pauses",
]

DROP_COLOURS = {"shed": "tab:orange", "lost": "tab:red", "dead_lettered": "tab:purple"}
"""Line colour of each drop outcome (its reasons differ by line style)."""
_STYLES = ("-", "--", "-.", ":")
_MAX_REASONS = 4  # lines per outcome; the rest are summed as "other reasons"
_MAX_ROWS = 8  # rows of the reasons table
_DETAIL = re.compile(r"^(\d+) (\S+) of topic (\S+?):? (.*)$")
_PAUSE = re.compile(r"paused? ([0-9.]+(?:e-?\d+)?) s")
TRANSACTION_GROUPS = frozenset(row.service for row in PIPELINE)
"""Consumer groups on the transaction path (their pauses delay end-to-end latency)."""


def rebalance_pauses(incidents: pd.DataFrame) -> pd.DataFrame:
    """The pauses of the ``rebalance`` incidents: ``group``, ``start_s``, ``end_s``.

    The pause is the incident's ``duration_s``; when that is NaN (results saved before the
    column existed) it is read from a ``"pause(d) <x> s"`` in ``detail``. Pauses of 0 s (a
    cooperative rebalance that moved no partition) and unknown ones are left out.

    >>> inc = pd.DataFrame({"time_s": [0.0, 20.0], "kind": ["rebalance"] * 2,
    ...                     "target": ["feature-enricher"] * 2,
    ...                     "detail": ["generation 1, paused 1.0 s", "generation 2"],
    ...                     "duration_s": [float("nan"), 3.0]})
    >>> rebalance_pauses(inc).to_numpy().tolist()
    [['feature-enricher', 0.0, 1.0], ['feature-enricher', 20.0, 23.0]]
    """
    reb = paused_rebalances(incidents)
    return pd.DataFrame({"group": reb["target"].astype(str).to_numpy(),
                         "start_s": reb["time_s"].to_numpy(dtype=float),
                         "end_s": (reb["time_s"] + reb["pause_s"]).to_numpy(dtype=float)})


def paused_rebalances(incidents: pd.DataFrame) -> pd.DataFrame:
    """The ``rebalance`` incidents that paused something, with their pause as ``pause_s``: the
    incident's ``duration_s``, or, when that is NaN (results saved before the column existed),
    the ``"pause(d) <x> s"`` of its ``detail``; pauses of 0 s and unknown ones are left out."""
    reb = incidents[incidents["kind"] == "rebalance"]
    duration = (reb["duration_s"] if "duration_s" in reb else pd.Series(np.nan, reb.index))
    parsed = reb["detail"].astype(str).str.extract(_PAUSE, expand=False).astype(float)
    pause = duration.astype(float).fillna(parsed)
    keep = pause.notna() & (pause > 0)
    return reb[keep].assign(pause_s=pause[keep])


def shade_pauses(ax: Axes, pauses: pd.DataFrame, colours: dict[str, str],
                 groups: frozenset[str] | None = None) -> list[Patch]:
    """Shade each pause of ``pauses`` (:func:`rebalance_pauses`) on ``ax``, below the lines.

    Spans are ``axvspan`` rectangles in the group's colour (``colours``; a group not in it gets
    grey), ``gid`` ``"rebalance:<group>"``, with an edge so a pause shorter than a pixel still
    shows. ``groups`` limits the groups drawn (None: all). Returns one legend patch per group
    drawn, labelled with the group and its pause count and total.
    """
    handles = []
    for group, g in pauses.groupby("group", sort=False):
        if groups is not None and group not in groups:
            continue
        colour = colours.get(str(group), "0.5")
        for start, end in zip(g["start_s"], g["end_s"], strict=True):
            ax.axvspan(start, end, facecolor=colour, edgecolor=colour, alpha=0.18, lw=0.6,
                       zorder=0.5, gid=f"rebalance:{group}")
        total = float((g["end_s"] - g["start_s"]).sum())
        n = len(g)
        handles.append(Patch(facecolor=colour, edgecolor=colour, alpha=0.35,
                             label=f"{group}: {n} pause{'s' * (n != 1)}, {total:g} s"))
    return handles


def drop_events(incidents: pd.DataFrame) -> pd.DataFrame:
    """The drop incidents: ``time_s``, ``outcome``, ``count``, ``what``, ``topic``, ``reason``.

    ``count`` is :func:`sim.record.incidents.drop_count` of the detail; ``what`` is
    ``records`` (transactions) or ``labels``; ``reason`` follows ``"of topic <t>: "``.

    >>> from sim.record.incidents import drop_detail
    >>> inc = pd.DataFrame({"time_s": [5.0], "kind": ["records_lost"], "target": ["t"],
    ...                     "detail": [drop_detail(3, "records", "transactions", "retention")]})
    >>> ev = drop_events(inc)
    >>> ev[["outcome", "what", "topic", "reason"]].to_numpy().tolist(), int(ev["count"].sum())
    ([['lost', 'records', 'transactions', 'retention']], 3)
    """
    outcome_of = {kind: outcome for outcome, kind in DROP_KINDS.items()}
    drops = incidents[incidents["kind"].isin(list(outcome_of))]
    rows = []
    for t, kind, detail in zip(drops["time_s"], drops["kind"], drops["detail"].astype(str),
                               strict=True):
        m = _DETAIL.match(detail)
        what, topic, reason = m.group(2, 3, 4) if m else ("records", "", detail)
        rows.append((float(t), outcome_of[kind], drop_count(detail), what, topic, reason))
    cols = ["time_s", "outcome", "count", "what", "topic", "reason"]
    return pd.DataFrame(rows, columns=cols)


def drop_reasons(transactions: pd.DataFrame) -> pd.DataFrame:
    """Transactions per drop outcome, reason and stage, most first: ``outcome``, ``reason``
    (``"(no reason given)"`` when empty), ``stage`` (``outcome_stage``), ``transactions``."""
    t = transactions[transactions["outcome"].astype(str).isin(list(DROP_COLOURS))]
    frame = pd.DataFrame({
        "outcome": t["outcome"].astype(str),
        "reason": t["reason"].astype(str).replace("", "(no reason given)"),
        "stage": t["outcome_stage"].astype(str).str.replace("_", "-"),
    })
    counts = frame.value_counts(sort=False).rename("transactions").reset_index()
    order = counts["outcome"].map(list(DROP_COLOURS).index)
    return counts.assign(_o=order).sort_values(["_o", "transactions"], ascending=[True, False],
                                               kind="stable").drop(columns="_o")


def _total(metrics: pd.DataFrame, outcome: str) -> pd.DataFrame:
    sel = metrics[(metrics["name"] == f"tinybots_{outcome}_total")]
    return sel.sort_values("time_s", kind="stable")


def has_drops(transactions: pd.DataFrame, metrics: pd.DataFrame,
              incidents: pd.DataFrame) -> bool:
    """Whether anything was shed, lost or dead-lettered: a transaction with that outcome, a
    drop incident with records, or a positive ``tinybots_<outcome>_total``."""
    if transactions["outcome"].astype(str).isin(list(DROP_COLOURS)).any():
        return True
    if (drop_events(incidents)["count"] > 0).any():
        return True
    return any((_total(metrics, o)["value"] > 0).any() for o in DROP_COLOURS)


def _cumulative(times: np.ndarray, counts: np.ndarray, end_s: float):
    order = np.argsort(times, kind="stable")
    x = np.concatenate([[0.0], times[order], [max(end_s, float(times.max()))]])
    y = np.concatenate([[0.0], np.cumsum(counts[order])])
    return x, np.append(y, y[-1])


def _reason_label(outcome: str, reason: str, what: str, n: float) -> str:
    if len(reason) > 60:  # the table beside it gives the reasons in full
        reason = reason[:57] + "..."
    label = f"{outcome.replace('_', '-')}: {reason}"
    if what not in ("records", "transactions"):
        label += f" ({what})"
    return f"{label} — {n:g}"


def _incident_lines(ax: Axes, outcome: str, ev: pd.DataFrame, end_s: float) -> float:
    """Step lines of one outcome's drop incidents, one per (reason, what), the largest first;
    returns the transactions (records of ``records``) they count."""
    sums = ev.groupby(["reason", "what"], sort=False)["count"].sum().sort_values(
        ascending=False, kind="stable")
    keys = list(sums.index)
    shown, rest = keys[:_MAX_REASONS], keys[_MAX_REASONS:]
    groups = [(k, ev[(ev["reason"] == k[0]) & (ev["what"] == k[1])]) for k in shown]
    if rest:
        mask = pd.Series(False, ev.index)
        for reason, what in rest:
            mask |= (ev["reason"] == reason) & (ev["what"] == what)
        groups.append((("other reasons", "records"), ev[mask]))
    for i, ((reason, what), g) in enumerate(groups):
        x, y = _cumulative(g["time_s"].to_numpy(), g["count"].to_numpy(float), end_s)
        ax.step(x, y, where="post", color=DROP_COLOURS[outcome], ls=_STYLES[i % len(_STYLES)],
                lw=1.6, label=_reason_label(outcome, reason, what, y[-1]))
    return float(ev.loc[ev["what"].isin(["records", "transactions"]), "count"].sum())


def draw_drops(ax: Axes, transactions: pd.DataFrame, metrics: pd.DataFrame,
               incidents: pd.DataFrame, end_s: float) -> None:
    """Cumulative shed / lost / dead-lettered counts over processing time on ``ax``.

    Per outcome: one step line per reason from its drop incidents (:func:`drop_events`; up to
    four, the rest summed as "other reasons"), in the outcome's colour (:data:`DROP_COLOURS`).
    When the incidents count fewer transactions than the outcome's ``tinybots_<outcome>_total``
    metric (drops no incident reports, e.g. the ingress shedding a request), that metric is
    drawn too, dashed and labelled "all reasons" (or with the one reason the transactions frame
    gives). Legend entries end with the final count. An outcome with neither is not drawn.
    """
    events = drop_events(incidents)
    reasons = drop_reasons(transactions)
    for outcome in DROP_COLOURS:
        ev = events[(events["outcome"] == outcome) & (events["count"] > 0)]
        covered = _incident_lines(ax, outcome, ev, end_s) if len(ev) else 0.0
        tot = _total(metrics, outcome)
        final = float(tot["value"].iloc[-1]) if len(tot) else 0.0
        if final <= covered:
            continue
        own = reasons[reasons["outcome"] == outcome]["reason"].unique()
        text = own[0] if len(own) == 1 and not len(ev) else "all reasons"
        ax.step(np.concatenate([[0.0], tot["time_s"].to_numpy(float), [end_s]]),
                np.concatenate([[0.0], tot["value"].to_numpy(float), [final]]), where="post",
                color=DROP_COLOURS[outcome], ls="-" if not len(ev) else (0, (1, 1)), lw=1.6,
                label=f"{outcome.replace('_', '-')}: {text} — {final:g}")
    ax.set_title("Shed, lost and dead-lettered (cumulative, by reason)", fontsize=10)
    ax.set_ylabel("records")
    top = max((float(np.max(li.get_ydata())) for li in ax.lines), default=1.0)
    ax.set_ylim(0, max(top, 1.0) * (1.15 + 0.1 * len(ax.lines)))  # room for the legend
    ax.grid(alpha=0.3)
    if ax.lines:
        ax.legend(fontsize=6, loc="upper left", framealpha=0.85)


def draw_reasons_table(ax: Axes, transactions: pd.DataFrame) -> None:
    """The table of :func:`drop_reasons` on ``ax`` (axis off; up to eight rows, the rest summed
    in a last row); a note when no transaction was dropped (only labels, say)."""
    ax.axis("off")
    ax.set_title("Transactions by outcome and reason", fontsize=10)
    reasons = drop_reasons(transactions)
    if reasons.empty:
        ax.text(0.5, 0.5, "no transaction shed, lost or dead-lettered", transform=ax.transAxes,
                ha="center", va="center", fontsize=9, color="0.35")
        return
    rows = [[o.replace("_", "-"), _short(r), s, f"{n:d}"]
            for o, r, s, n in reasons.head(_MAX_ROWS).itertuples(index=False)]
    if len(reasons) > _MAX_ROWS:
        more = reasons.iloc[_MAX_ROWS:]
        rows.append(["…", f"{len(more)} more reasons", "", f"{more['transactions'].sum():d}"])
    table = ax.table(cellText=rows, colLabels=["outcome", "reason", "stage", "transactions"],
                     loc="upper center", cellLoc="left", colLoc="left")
    table.auto_set_font_size(False)
    table.set_fontsize(8)
    table.auto_set_column_width(range(4))
    for (r, _c), cell in table.get_celld().items():
        cell.set_edgecolor("0.8")
        if r == 0:
            cell.set_text_props(weight="bold")
        elif rows[r - 1][0] in ("shed", "lost", "dead-lettered"):
            cell.get_text().set_color(DROP_COLOURS[rows[r - 1][0].replace("-", "_")])


def _short(text: str, width: int = 48) -> str:
    """``text`` cut to ``width`` characters with an ellipsis.

    >>> _short("x" * 60, 10)
    'xxxxxxxxx…'
    """
    return text if len(text) <= width else text[: width - 1] + "…"


def pause_colours(lag_ax: Axes, pauses: pd.DataFrame) -> dict[str, str]:
    """Each paused group's colour: that of its lag line on ``lag_ax`` (labels ``"topic →
    group"``), else the next colours of the cycle."""
    colours = {}
    for line in lag_ax.lines:
        group = str(line.get_label()).rpartition("→ ")[2]
        colours.setdefault(group, line.get_color())
    k = len(colours)
    for group in pauses["group"].unique():
        if group not in colours:
            colours[group] = f"C{k % 10}"
            k += 1
    return colours


def mark_crashes(ax: Axes, incidents: pd.DataFrame) -> Line2D | None:
    """A dashed dark-red vertical line at each ``pod_crash`` incident on ``ax`` (``gid``
    ``"pod_crash:<pod>"``); returns the legend entry, or None without a crash."""
    crashes = incidents[incidents["kind"] == "pod_crash"]
    for t, pod in zip(crashes["time_s"], crashes["target"], strict=True):
        ax.axvline(float(t), color="darkred", ls="--", lw=1.0, zorder=0.6, gid=f"pod_crash:{pod}")
    if not len(crashes):
        return None
    return Line2D([], [], color="darkred", ls="--", lw=1.0, label="pod crash")


def pause_key() -> Patch:
    """The legend entry of pauses shaded in the colour of their group's line."""
    return Patch(facecolor="0.55", edgecolor="0.55", alpha=0.35,
                 label="rebalance pause (shaded in its group's colour)")


def pause_legend(ax: Axes, handles: list[Patch], loc: str = "upper right") -> Legend | None:
    """Add a second legend, "rebalance pauses (shaded)", of ``handles`` to ``ax``; the axes'
    own legend (``ax.get_legend()``, the lines') stays as it is. None without handles."""
    if not handles:
        return None
    legend = Legend(ax, handles, [str(h.get_label()) for h in handles], fontsize=7, loc=loc,
                    title="rebalance pauses (shaded)", title_fontsize=7)
    ax.add_artist(legend)
    return legend
