/**
 * An SVG chart of recall@10 (x) against queries per second (y, log scale),
 * one labelled curve per index: each curve is the index's Pareto frontier
 * (the settings no other setting of that index beats in both recall and QPS),
 * as ann-benchmarks draws them.
 */

export interface ChartPoint {
  readonly index: string;
  readonly params: string;
  readonly recall: number;
  readonly qps: number;
}

const COLOURS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf"];

/** The points of one series that no other point beats in both recall and QPS, by recall ascending. */
export function paretoFrontier(points: readonly ChartPoint[]): ChartPoint[] {
  const byRecall = [...points].sort((a, b) => b.recall - a.recall || b.qps - a.qps);
  const out: ChartPoint[] = [];
  let bestQps = -Infinity;
  for (const p of byRecall) {
    if (p.qps > bestQps) {
      out.push(p);
      bestQps = p.qps;
    }
  }
  return out.reverse();
}

function escape(s: string): string {
  return s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}

export function recallQpsChart(points: readonly ChartPoint[], title: string, subtitle = ""): string {
  const W = 900, H = 560;
  const m = { left: 80, right: 230, top: 60, bottom: 60 };
  const pw = W - m.left - m.right, ph = H - m.top - m.bottom;
  const series = [...new Set(points.map((p) => p.index))].map((index) => ({ index, points: paretoFrontier(points.filter((p) => p.index === index)) }));
  const shown = series.flatMap((s) => s.points);
  const minRecall = Math.max(0, Math.floor(Math.min(...shown.map((p) => p.recall)) * 20) / 20);
  const xMin = Math.min(minRecall, 0.8), xMax = 1;
  const qs = shown.map((p) => p.qps);
  const yMin = 10 ** Math.floor(Math.log10(Math.min(...qs))), yMax = 10 ** Math.ceil(Math.log10(Math.max(...qs)));
  const x = (r: number) => m.left + ((r - xMin) / (xMax - xMin)) * pw;
  const y = (q: number) => m.top + ph - ((Math.log10(q) - Math.log10(yMin)) / (Math.log10(yMax) - Math.log10(yMin))) * ph;
  const out: string[] = [];
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="13">`);
  out.push(`<rect width="${W}" height="${H}" fill="white"/>`);
  out.push(`<text x="${m.left}" y="28" font-size="17" font-weight="bold">${escape(title)}</text>`);
  if (subtitle) out.push(`<text x="${m.left}" y="46" fill="#555">${escape(subtitle)}</text>`);
  // grid and axes
  for (let r = Math.ceil(xMin * 20) / 20; r <= xMax + 1e-9; r += 0.05) {
    const rx = x(r);
    out.push(`<line x1="${rx}" y1="${m.top}" x2="${rx}" y2="${m.top + ph}" stroke="#e5e5e5"/>`);
    out.push(`<text x="${rx}" y="${m.top + ph + 18}" text-anchor="middle">${r.toFixed(2)}</text>`);
  }
  for (let e = Math.log10(yMin); e <= Math.log10(yMax) + 1e-9; e++) {
    for (const f of [1, 2, 5]) {
      const q = f * 10 ** e;
      if (q < yMin || q > yMax) continue;
      const qy = y(q);
      out.push(`<line x1="${m.left}" y1="${qy}" x2="${m.left + pw}" y2="${qy}" stroke="${f === 1 ? "#d0d0d0" : "#f0f0f0"}"/>`);
      out.push(`<text x="${m.left - 8}" y="${qy + 4}" text-anchor="end">${q >= 1000 ? `${q / 1000}k` : q}</text>`);
    }
  }
  out.push(`<rect x="${m.left}" y="${m.top}" width="${pw}" height="${ph}" fill="none" stroke="#333"/>`);
  out.push(`<text x="${m.left + pw / 2}" y="${H - 18}" text-anchor="middle">recall@10</text>`);
  out.push(`<text transform="translate(22 ${m.top + ph / 2}) rotate(-90)" text-anchor="middle">queries per second (log scale)</text>`);
  // curves, each labelled at its right end and in the legend
  series.forEach((s, i) => {
    const colour = COLOURS[i % COLOURS.length]!;
    const dash = s.index.includes("hnswlib") ? ` stroke-dasharray="6 3"` : "";
    const pts = s.points.map((p) => `${x(p.recall).toFixed(1)},${y(p.qps).toFixed(1)}`).join(" ");
    out.push(`<polyline points="${pts}" fill="none" stroke="${colour}" stroke-width="2"${dash}/>`);
    for (const p of s.points) {
      out.push(`<circle cx="${x(p.recall).toFixed(1)}" cy="${y(p.qps).toFixed(1)}" r="3.5" fill="${colour}"><title>${escape(`${s.index} ${p.params}: recall ${p.recall}, ${p.qps} q/s`)}</title></circle>`);
    }
    const ly = m.top + 12 + i * 22;
    out.push(`<line x1="${m.left + pw + 16}" y1="${ly}" x2="${m.left + pw + 40}" y2="${ly}" stroke="${colour}" stroke-width="2"${dash}/>`);
    out.push(`<text x="${m.left + pw + 46}" y="${ly + 4}">${escape(s.index)}</text>`);
  });
  out.push("</svg>");
  return out.join("\n");
}
