// The one page of `rlhf label`, self-contained (inline style and script, no other request but the
// JSON API). Every text from the model or the prompts file is put in with textContent, never as
// HTML, and the server's Content-Security-Policy allows only this page's own script (by nonce),
// so an answer holding <script> or <img onerror> is shown, not run. The per-session token rides
// in a meta tag and goes with every write. Keyboard: Tab moves between answers; in rank and pairs
// mode the number keys pick answers best first (Backspace starts over), Alt+↑/↓ moves the focused
// answer, x marks it unacceptable, = ties it with the one above; in binary mode y/n label it;
// s skips the prompt; Enter submits. Answers can also be dragged into order.
import type { LabelMode } from './records.js';

const HELP: Record<LabelMode, string> = {
  rank:
    'Rank the answers best first: press their numbers in order (Backspace starts over), or drag them, or Alt+↑/↓. ' +
    'x marks the focused answer unacceptable, = ties it with the one above, s skips, Enter submits.',
  pairs: 'Press the number of the better answer (or drag it to the top), x marks the focused one unacceptable, s skips, Enter submits.',
  binary: 'For each answer press y (good) or n (bad) while it is focused (Tab moves), or use its buttons; s skips, Enter submits.',
};

const STYLE = `
body{font:15px/1.45 system-ui,sans-serif;margin:0;background:#f6f7f9;color:#1b1f24}
header{display:flex;gap:1.5em;align-items:center;padding:.6em 1.2em;background:#1b1f24;color:#fff}
header h1{font-size:1.1em;margin:0}
main{max-width:54em;margin:0 auto;padding:1em}
pre{white-space:pre-wrap;word-break:break-word;margin:0;font:inherit}
#prompt{background:#fff;border:1px solid #ccd;padding:.7em;border-radius:6px}
#help{color:#555;font-size:.9em}
ol{padding:0;list-style:none}
li{display:flex;gap:.8em;align-items:flex-start;background:#fff;border:1px solid #ccd;border-radius:6px;padding:.6em;margin:.5em 0;
cursor:grab;touch-action:none;user-select:none}
li:focus{outline:3px solid #2f6fdf}
li.dragging{opacity:.6;border-color:#2f6fdf}
li[data-unacceptable="1"]{background:#fde8e8}
li[data-tie="1"]{border-top:3px double #888}
li[data-label="true"]{background:#e6f6e6}
li[data-label="false"]{background:#fde8e8}
.rank{font-weight:bold;min-width:2.2em;color:#2f6fdf}
.key{font-size:.8em;color:#666;border:1px solid #aaa;border-radius:4px;padding:0 .35em}
.text{flex:1}
.controls{display:flex;gap:.3em}
button[aria-pressed="true"]{background:#1b1f24;color:#fff}
#status{min-height:1.4em;color:#a33}
`;

const SCRIPT = `
'use strict';
const $ = (id) => document.getElementById(id);
const token = document.querySelector('meta[name="label-token"]').content;
const mode = document.querySelector('meta[name="label-mode"]').content;
const list = $('answers');
let lease = null, keyed = [], touched = false, drag = null;
$('name').value = localStorage.getItem('rlhf-label-name') || '';
const cards = () => [...list.children];
const say = (t) => { $('status').textContent = t; };
async function api(path, body) {
  const headers = { 'content-type': 'application/json', 'x-label-token': token };
  const r = await fetch(path, { method: 'POST', headers, body: JSON.stringify(body) });
  const j = await r.json().catch(() => ({}));
  if (!r.ok) throw new Error(j.error || 'HTTP ' + r.status);
  return j;
}
function annotator() { return $('name').value.trim(); }
function showProgress(p) { $('progress').textContent = p.done + ' done · ' + p.left + ' left of ' + p.total; }
function renumber() {
  cards().forEach((li, k) => { li.querySelector('.rank').textContent = mode === 'binary' ? '' : '#' + (k + 1); });
}
function button(text, onClick) {
  const b = document.createElement('button'); b.type = 'button'; b.textContent = text; b.setAttribute('aria-pressed', 'false');
  b.addEventListener('click', (e) => { e.stopPropagation(); onClick(); }); return b;
}
function sinkUnacceptable() { for (const li of cards()) if (li.dataset.unacceptable === '1') list.appendChild(li); }
function toggleUnacceptable(li) {
  const on = li.dataset.unacceptable !== '1'; li.dataset.unacceptable = on ? '1' : '0';
  li.querySelector('.unacceptable').setAttribute('aria-pressed', String(on)); sinkUnacceptable(); renumber(); li.focus();
}
function toggleTie(li) {
  const on = li.dataset.tie !== '1'; li.dataset.tie = on ? '1' : '0'; li.querySelector('.tie').setAttribute('aria-pressed', String(on));
}
function setLabel(li, v) {
  li.dataset.label = String(v);
  li.querySelector('.good').setAttribute('aria-pressed', String(v)); li.querySelector('.bad').setAttribute('aria-pressed', String(!v));
}
function render(l) {
  lease = l; keyed = []; touched = false; list.textContent = '';
  $('prompt').textContent = l.prompt;
  l.answers.forEach((a, k) => {
    const li = document.createElement('li'); li.tabIndex = 0; li.dataset.index = String(a.index); li.dataset.key = String(k + 1);
    const rank = document.createElement('span'); rank.className = 'rank';
    const key = document.createElement('span'); key.className = 'key'; key.textContent = String(k + 1); key.title = 'key';
    const text = document.createElement('pre'); text.className = 'text'; text.textContent = a.text;
    const controls = document.createElement('div'); controls.className = 'controls';
    if (mode === 'binary') {
      const g = button('👍 good (y)', () => setLabel(li, true)); g.className = 'good';
      const b = button('👎 bad (n)', () => setLabel(li, false)); b.className = 'bad';
      controls.append(g, b);
    } else {
      const u = button('unacceptable (x)', () => toggleUnacceptable(li)); u.className = 'unacceptable'; controls.append(u);
      if (mode === 'rank') { const t = button('= tie (=)', () => toggleTie(li)); t.className = 'tie'; controls.append(t); }
      li.addEventListener('pointerdown', (e) => {
        if (e.target.closest('button')) return;
        e.preventDefault(); drag = li; li.classList.add('dragging'); li.focus();
      });
    }
    li.append(rank, key, text, controls); list.appendChild(li);
  });
  renumber(); document.body.dataset.state = 'ready'; say('');
  const first = cards()[0]; if (first) first.focus();
}
async function load() {
  document.body.dataset.state = 'loading';
  if (!annotator()) { say('Type your name, then press Enter.'); $('name').focus(); document.body.dataset.state = 'name'; return; }
  localStorage.setItem('rlhf-label-name', annotator());
  try {
    const j = await api('/api/next', { annotator: annotator() });
    showProgress(j.progress);
    if (!j.lease) {
      lease = null; list.textContent = ''; $('prompt').textContent = 'Nothing left for you to label. Thank you!';
      document.body.dataset.state = 'finished'; return;
    }
    render(j.lease);
  } catch (e) { say(e.message); document.body.dataset.state = 'error'; }
}
function pickKey(k) {
  const li = cards().find((c) => c.dataset.key === String(k));
  if (!li || keyed.includes(li)) return;
  keyed.push(li);
  const n = cards().length;
  if (keyed.length === n - 1) keyed.push(cards().find((c) => !keyed.includes(c)));
  const rest = cards().filter((c) => !keyed.includes(c));
  for (const c of [...keyed, ...rest]) list.appendChild(c);
  if (keyed.length === n) touched = true;
  sinkUnacceptable(); renumber(); li.focus();
}
function moveFocused(li, dir) {
  const cs = cards(); const i = cs.indexOf(li); const j = i + dir;
  if (j < 0 || j >= cs.length) return;
  list.insertBefore(li, dir < 0 ? cs[j] : cs[j].nextSibling); touched = true; keyed = []; renumber(); li.focus();
}
async function submit() {
  if (!lease) return;
  const cs = cards(); let body;
  if (mode === 'binary') {
    if (cs.some((c) => c.dataset.label !== 'true' && c.dataset.label !== 'false')) return say('Label every answer first (y or n).');
    const byIndex = new Map(cs.map((c) => [Number(c.dataset.index), c.dataset.label === 'true']));
    body = { labels: lease.answers.map((_, i) => byIndex.get(i)) };
  } else {
    if (!touched) return say(mode === 'pairs' ? 'Pick the better answer first.' : 'Rank the answers first (number keys or drag).');
    const order = cs.map((c) => Number(c.dataset.index));
    const unacceptable = cs.filter((c) => c.dataset.unacceptable === '1').map((c) => Number(c.dataset.index));
    const ties = [];
    cs.forEach((c, k) => {
      if (k === 0 || c.dataset.tie !== '1') return;
      const prev = Number(cs[k - 1].dataset.index), last = ties[ties.length - 1];
      if (last && last[last.length - 1] === prev) last.push(Number(c.dataset.index)); else ties.push([prev, Number(c.dataset.index)]);
    });
    body = { order, unacceptable, ties };
  }
  document.body.dataset.state = 'saving';
  try {
    await api('/api/submit', { annotator: annotator(), lease: lease.id, ...body });
    say('Saved.'); await load();
  } catch (e) { say(e.message); document.body.dataset.state = 'ready'; }
}
async function skip() {
  if (!lease) return;
  try { await api('/api/skip', { annotator: annotator(), lease: lease.id }); await load(); } catch (e) { say(e.message); }
}
// Moving a node releases its pointer capture, so the drag is followed on the document.
document.addEventListener('pointermove', (e) => {
  if (!drag) return;
  const below = (c) => { const r = c.getBoundingClientRect(); return e.clientY < r.top + r.height / 2; };
  const after = cards().filter((c) => c !== drag).find(below);
  if ((after || null) !== drag.nextElementSibling) { list.insertBefore(drag, after || null); renumber(); }
});
const drop = () => {
  if (!drag) return;
  const li = drag; drag = null; li.classList.remove('dragging'); touched = true; keyed = []; sinkUnacceptable(); renumber(); li.focus();
};
document.addEventListener('pointerup', drop);
document.addEventListener('pointercancel', drop);
$('submit').addEventListener('click', submit);
$('skip').addEventListener('click', skip);
$('reset').addEventListener('click', () => { if (lease) render(lease); });
document.addEventListener('keydown', (e) => {
  if (e.target === $('name')) { if (e.key === 'Enter') { e.preventDefault(); load(); } return; }
  if (!lease || e.ctrlKey || e.metaKey || (e.target.tagName === 'BUTTON' && (e.key === 'Enter' || e.key === ' '))) return;
  const li = e.target.closest && e.target.closest('li');
  if (e.key === 'Enter') { e.preventDefault(); submit(); }
  else if (e.key === 's') skip();
  else if (e.key === 'Backspace') { e.preventDefault(); render(lease); }
  else if (mode !== 'binary' && /^[1-9]$/.test(e.key)) pickKey(Number(e.key));
  else if (li && e.altKey && (e.key === 'ArrowUp' || e.key === 'ArrowDown')) {
    e.preventDefault(); moveFocused(li, e.key === 'ArrowUp' ? -1 : 1);
  }
  else if (li && mode !== 'binary' && e.key === 'x') toggleUnacceptable(li);
  else if (li && mode === 'rank' && e.key === '=') toggleTie(li);
  else if (li && mode === 'binary' && (e.key === 'y' || e.key === 'n')) setLabel(li, e.key === 'y');
});
load();
`;

/** The page, with this session's token and the nonce the Content-Security-Policy allows. */
export function labelPage(mode: LabelMode, token: string, nonce: string): string {
  if (!/^[0-9a-f]+$/.test(token) || !/^[0-9a-f]+$/.test(nonce)) throw new Error('labelPage: token and nonce must be hex');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="label-token" content="${token}"><meta name="label-mode" content="${mode}">
<title>rlhf label</title><style nonce="${nonce}">${STYLE}</style></head>
<body data-state="loading">
<header><h1>rlhf label · ${mode}</h1><span id="progress" aria-live="polite"></span>
<label>Your name <input id="name" autocomplete="name" maxlength="100"></label></header>
<main>
<h2>Prompt</h2><pre id="prompt"></pre>
<p id="help">${HELP[mode]}</p>
<ol id="answers" aria-label="${mode === 'binary' ? 'Answers' : 'Answers, best first'}"></ol>
<button type="button" id="submit">Submit (Enter)</button> <button type="button" id="skip">Skip (s)</button>
<button type="button" id="reset">Start over (Backspace)</button>
<p id="status" role="status" aria-live="polite"></p>
</main>
<script nonce="${nonce}">${SCRIPT}</script>
</body></html>
`;
}
