// Public API of @fidlab/report: read sweeps through a small source interface (the store's read
// API), compute the study's tables with fid-core, render HTML or Markdown with ECharts SVG plots.
export * from './types.js';
export * from './analysis.js';
export * from './buildReport.js';
export * from './renderReport.js';
export { JUMP_RULE, SEPARATION_RULE } from './methods.js';
export { renderSvg } from './charts.js';
