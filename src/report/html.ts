// HTML building blocks. Every string from a run directory passes through escapeHtml (for
// markup) or jsonForScript (for data in a <script>), so a sample answer containing markup
// shows up as text instead of running in the reader's browser.

const HTML_ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

/** Text safe inside element content and quoted attribute values. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => HTML_ESCAPES[c]!);
}

/**
 * JSON safe inside <script type="application/json">: `<` cannot start `</script>` or `<!--`,
 * and U+2028/U+2029 are escaped for tools that still treat the payload as JavaScript.
 */
export function jsonForScript(value: unknown): string {
  return JSON.stringify(value)
    .replace(/</g, '\\u003c')
    .replace(/>/g, '\\u003e')
    .replace(/&/g, '\\u0026')
    .replace(/\u2028/g, '\\u2028')
    .replace(/\u2029/g, '\\u2029');
}

/** Short, stable text for a number: integers as is, the rest to 4 significant digits. */
export function formatNumber(n: number): string {
  if (!Number.isFinite(n)) return String(n);
  if (Number.isInteger(n)) return String(n);
  const abs = Math.abs(n);
  if (abs !== 0 && (abs < 1e-3 || abs >= 1e6)) return n.toExponential(3);
  return String(Number(n.toPrecision(4)));
}

/** Display text for any JSON value; null stands for a NaN the writer could not encode. */
export function formatValue(v: unknown): string {
  if (v === null || v === undefined) return '—';
  if (typeof v === 'number') return formatNumber(v);
  if (typeof v === 'string') return v;
  return JSON.stringify(v);
}

/** Nested objects become dotted keys, so a config reads as one flat table. */
export function flatten(value: unknown, prefix = ''): [string, unknown][] {
  if (value !== null && typeof value === 'object' && !Array.isArray(value)) {
    const entries = Object.entries(value as Record<string, unknown>);
    if (entries.length === 0) return prefix ? [[prefix, {}]] : [];
    return entries.flatMap(([k, v]) => flatten(v, prefix ? `${prefix}.${k}` : k));
  }
  return [[prefix || '(value)', value]];
}

/** A table from already-escaped cells (the caller escapes; cells may hold markup of ours). */
export function table(head: string[], rows: string[][], className = ''): string {
  const th = head.map((h) => `<th>${h}</th>`).join('');
  const body = rows.map((r) => `<tr>${r.map((c) => `<td>${c}</td>`).join('')}</tr>`).join('\n');
  return `<table${className ? ` class="${className}"` : ''}><thead><tr>${th}</tr></thead><tbody>\n${body}\n</tbody></table>`;
}

/** A key → value table, escaping both. */
export function keyValueTable(entries: [string, unknown][]): string {
  return table(
    ['name', 'value'],
    entries.map(([k, v]) => [`<code>${escapeHtml(k)}</code>`, escapeHtml(formatValue(v))]),
    'kv',
  );
}
