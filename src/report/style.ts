// The report's stylesheet, inline like everything else so the file stands alone.
export const STYLE = `
body { font: 14px/1.45 system-ui, sans-serif; color: #222; margin: 0 auto; max-width: 1400px; padding: 0 20px 40px; }
h1 { font-size: 22px; margin: 20px 0 4px; }
h2 { font-size: 19px; margin: 32px 0 2px; border-bottom: 2px solid #4e79a7; padding-bottom: 4px; }
h3 { font-size: 15px; margin: 22px 0 6px; }
.path, .muted { color: #666; font-size: 12px; margin: 2px 0 8px; }
.warning { background: #fff4e5; border-left: 4px solid #e67e22; padding: 8px 12px; margin: 8px 0; }
nav { margin: 6px 0; }
nav a { color: #4e79a7; }
.status { font-size: 12px; display: inline-block; padding: 2px 8px; border-radius: 4px; background: #eef5ee; color: #2d6a2d; }
.smoothing { font-size: 12px; margin-left: 12px; }
.smoothing input { vertical-align: middle; }
.status.bad, .status[data-state="pending"] { background: #fbeaea; color: #9b2226; }
.charts { display: grid; grid-template-columns: repeat(auto-fill, minmax(420px, 1fr)); gap: 14px; }
figure.chart { margin: 0; border: 1px solid #ddd; border-radius: 6px; padding: 8px 10px; background: #fff; }
figcaption { font-weight: 600; margin-bottom: 4px; }
.canvas-box { position: relative; height: 260px; }
table { border-collapse: collapse; width: 100%; margin: 4px 0 10px; font-size: 13px; }
th, td { border: 1px solid #ddd; padding: 4px 8px; text-align: left; vertical-align: top; }
th { background: #f4f6f8; }
table.kv { width: auto; min-width: 40%; }
table.samples td:first-child { width: 22%; }
.text { white-space: pre-wrap; word-break: break-word; font-family: ui-monospace, monospace; font-size: 12px; }
.score { color: #666; font-size: 11px; margin-top: 2px; }
details.config { margin: 14px 0; }
details.config summary { cursor: pointer; font-weight: 600; }
code { font-size: 12px; }
`;
