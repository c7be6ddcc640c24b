/**
 * Rendering statement results for the shell: tables, JSON lines, CSV.
 */
import type { StatementResult } from "../src/index";

export type OutputMode = "table" | "json" | "csv";

function cell(v: unknown): string {
  if (v === null || v === undefined) return "NULL";
  if (typeof v === "number") return Number.isInteger(v) ? String(v) : String(+v.toPrecision(6));
  if (typeof v === "string") return v;
  return JSON.stringify(v);
}

function columnsOf(rows: Record<string, unknown>[]): string[] {
  const cols: string[] = [];
  for (const r of rows) for (const k of Object.keys(r)) if (!cols.includes(k)) cols.push(k);
  return cols;
}

const MAX_CELL = 60;

export function renderTable(rows: Record<string, unknown>[]): string {
  if (rows.length === 0) return "(no rows)";
  const cols = columnsOf(rows);
  const cells = rows.map((r) => cols.map((c) => {
    const s = cell(r[c]);
    return s.length > MAX_CELL ? `${s.slice(0, MAX_CELL - 1)}…` : s;
  }));
  const widths = cols.map((c, i) => Math.max(c.length, ...cells.map((r) => r[i]!.length)));
  const line = (l: string, m: string, r: string) => l + widths.map((w) => "─".repeat(w + 2)).join(m) + r;
  const fmt = (vals: string[]) => `│${vals.map((v, i) => ` ${v.padEnd(widths[i]!)} `).join("│")}│`;
  return [line("┌", "┬", "┐"), fmt(cols), line("├", "┼", "┤"), ...cells.map(fmt), line("└", "┴", "┘")].join("\n");
}

function csvField(s: string): string {
  return /[",\n\r]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

export function renderCsv(rows: Record<string, unknown>[]): string {
  if (rows.length === 0) return "";
  const cols = columnsOf(rows);
  return [cols.map(csvField).join(","), ...rows.map((r) => cols.map((c) => csvField(r[c] === null || r[c] === undefined ? "" : typeof r[c] === "object" ? JSON.stringify(r[c]) : String(r[c]))).join(","))].join("\n");
}

/** The text printed for one statement's result. */
export function renderResult(r: StatementResult, mode: OutputMode, timer: boolean): string {
  if (mode === "json") return JSON.stringify(r);
  const parts: string[] = [];
  if (r.rows) parts.push(mode === "csv" ? renderCsv(r.rows) : renderTable(r.rows));
  else if (mode === "table") {
    if (r.message) parts.push(r.message);
    else if (r.count !== undefined) parts.push(`${r.statement} ${r.count}`);
  }
  if (timer && mode !== "csv") parts.push(`Run Time: ${r.ms.toFixed(3)} ms`);
  return parts.filter((p) => p !== "").join("\n");
}
