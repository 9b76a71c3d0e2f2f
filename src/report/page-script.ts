// The script the report runs in the browser: draws every chart from the embedded JSON, then
// records in #report-status how many canvases really show their data. Headless tests (and
// anyone debugging a blank chart) read that element instead of trusting that no error means
// a picture.
//
// A chart counts as drawn when the pixels inside its plot area include one in a series
// colour. Looking only inside chart.chartArea matters: the legend's colour boxes sit
// outside it and would otherwise pass for a drawn line. Animation is off, so Chart.js has
// painted by the time the constructor returns and the check needs no timers.
import { smoothPoints } from './smoothing.js';

export const PAGE_SCRIPT = `
(function () {
  'use strict';
  var smoothPoints = ${smoothPoints.toString()};
  var charts = [];
  var status = document.getElementById('report-status');
  var specs = JSON.parse(document.getElementById('report-data').textContent || '[]');
  var errors = [];
  var drawn = 0;
  var failed = [];

  function rgb(hex) {
    return [parseInt(hex.slice(1, 3), 16), parseInt(hex.slice(3, 5), 16), parseInt(hex.slice(5, 7), 16)];
  }

  // Chart.js's default ticks print tiny learning rates as 1.0600000E-5.
  function tick(value) {
    var v = Number(value), a = Math.abs(v);
    return a !== 0 && (a < 1e-3 || a >= 1e6) ? v.toExponential(2) : String(Number(v.toPrecision(4)));
  }

  function showsSeries(chart, colors) {
    var canvas = chart.canvas;
    var area = chart.chartArea;
    if (!area || !canvas.width || !canvas.height) return false;
    var ratio = chart.currentDevicePixelRatio || 1;
    var x = Math.max(0, Math.floor(area.left * ratio));
    var y = Math.max(0, Math.floor(area.top * ratio));
    var w = Math.min(canvas.width - x, Math.ceil((area.right - area.left) * ratio));
    var h = Math.min(canvas.height - y, Math.ceil((area.bottom - area.top) * ratio));
    if (w <= 0 || h <= 0) return false;
    var px = canvas.getContext('2d').getImageData(x, y, w, h).data;
    for (var i = 0; i < px.length; i += 4) {
      if (px[i + 3] < 250) continue; // transparent, or an anti-aliased edge
      for (var c = 0; c < colors.length; c++) {
        var col = colors[c];
        if (Math.abs(px[i] - col[0]) <= 8 && Math.abs(px[i + 1] - col[1]) <= 8 && Math.abs(px[i + 2] - col[2]) <= 8) return true;
      }
    }
    return false;
  }

  if (typeof Chart === 'undefined') errors.push('Chart.js did not load');
  else {
    Chart.defaults.animation = false;
    Chart.defaults.font.family = 'system-ui, sans-serif';
    specs.forEach(function (spec) {
      var canvas = document.getElementById(spec.id);
      try {
        var chart = spec.kind === 'histogram' ? new Chart(canvas, {
          type: 'bar',
          data: {
            labels: spec.labels,
            datasets: spec.series.map(function (s) {
              return {
                label: s.label, data: s.points.map(function (p) { return p[1]; }),
                backgroundColor: s.color, borderColor: s.color, borderWidth: 0,
              };
            }),
          },
          options: {
            animation: false, responsive: true, maintainAspectRatio: false,
            scales: {
              x: { title: { display: true, text: 'score' }, grid: { display: false } },
              y: { title: { display: true, text: 'count' }, beginAtZero: true },
            },
            plugins: { legend: { position: 'bottom', labels: { boxWidth: 12 } } },
          },
        }) : new Chart(canvas, {
          type: 'line',
          data: {
            datasets: spec.series.map(function (s) {
              return {
                label: s.label,
                data: s.points.map(function (p) { return { x: p[0], y: p[1] }; }),
                borderColor: s.color,
                backgroundColor: s.color,
                borderWidth: 2,
                // Few points: mark them, a lone point would otherwise be invisible.
                pointRadius: s.points.length <= 60 ? 2.5 : 0,
                pointHoverRadius: 4,
                spanGaps: false,
                parsing: false,
                normalized: true,
              };
            }),
          },
          options: {
            animation: false,
            responsive: true,
            maintainAspectRatio: false,
            interaction: { mode: 'nearest', axis: 'x', intersect: false },
            scales: {
              x: { type: 'linear', title: { display: true, text: 'step' } },
              y: { type: 'linear', ticks: { callback: tick } },
            },
            plugins: { legend: { position: 'bottom', labels: { boxWidth: 12 } } },
          },
        });
        chart.update('none');
        charts.push({ chart: chart, spec: spec });
        var ok = showsSeries(chart, spec.series.map(function (s) { return rgb(s.color); }));
        canvas.setAttribute('data-drawn', ok ? 'true' : 'false');
        if (ok) drawn++;
        else failed.push(spec.id);
      } catch (e) {
        failed.push(spec.id);
        errors.push(spec.id + ': ' + (e && e.message ? e.message : String(e)));
      }
    });
  }

  status.setAttribute('data-charts', String(specs.length));
  status.setAttribute('data-drawn', String(drawn));
  status.setAttribute('data-failed', failed.join(' '));
  status.setAttribute('data-errors', String(errors.length));
  status.setAttribute('data-state', 'done');
  status.textContent = drawn + ' of ' + specs.length + ' charts drawn' + (errors.length ? ' — ' + errors.join('; ') : '');
  if (drawn < specs.length) status.className = 'status bad';

  // The smoothing slider redraws every line with the moving average (histograms stay as they are).
  var slider = document.getElementById('smoothing');
  var shown = document.getElementById('smoothing-value');
  if (slider) slider.addEventListener('input', function () {
    var w = Number(slider.value);
    if (shown) shown.textContent = w.toFixed(2);
    charts.forEach(function (c) {
      if (c.spec.kind === 'histogram') return;
      c.chart.data.datasets.forEach(function (d, i) {
        d.data = smoothPoints(c.spec.series[i].points, w).map(function (p) { return { x: p[0], y: p[1] }; });
      });
      c.chart.update('none');
    });
  });
})();
`;
