// HTML reports of training runs.
export { buildReport, writeReport } from './report.js';
