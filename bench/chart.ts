/**
 * The benchmark's picture: accepts/s and p99 latency per concurrency, one line per target, as a
 * self-contained SVG string (no dependency, no I/O: values in, text out).
 */

export interface ChartPoint {
  concurrency: number;
  acceptsPerSecond: number;
  p99Ms: number;
}

export interface ChartSeries {
  /** The target's name, shown in the legend. */
  name: string;
  points: readonly ChartPoint[];
}

export interface ChartInput {
  title: string;
  /** One line under the title: when, where and under what load the figures were taken. */
  subtitle: string;
  series: readonly ChartSeries[];
}

/** One panel's geometry: where its plot area is, in SVG user units. */
export interface PanelBox {
  left: number;
  top: number;
  width: number;
  height: number;
}

const PANEL_WIDTH = 420;
const PANEL_HEIGHT = 260;
const MARGIN = { left: 70, right: 20, top: 70, bottom: 50 };
const LEGEND_ROW = 18;
/** Colour-blind-safe (Okabe–Ito), in target order. */
const COLOURS = ['#000000', '#E69F00', '#56B4E9', '#009E73', '#D55E00', '#0072B2', '#CC79A7', '#F0E442'];

function escapeXml(text: string): string {
  return text.replace(/[<>&'"]/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** A round upper bound for an axis (1, 2 or 5 times a power of ten) at or above `value`. */
export function niceCeiling(value: number): number {
  if (!(value > 0) || !Number.isFinite(value)) return 1;
  const power = 10 ** Math.floor(Math.log10(value));
  return ([1, 2, 5, 10].map((m) => m * power).find((candidate) => candidate >= value) ?? 10 * power) as number;
}

/** Where a value lands on a panel whose axis runs from 0 to `max` (SVG's y grows downwards). */
export function yFor(box: PanelBox, value: number, max: number): number {
  return box.top + box.height * (1 - Math.min(value, max) / max);
}

/** The concurrencies are categories spaced evenly (1, 16, 64 would crowd a linear axis). */
export function xFor(box: PanelBox, index: number, count: number): number {
  return box.left + (box.width * (index + 0.5)) / count;
}

function format(value: number): string {
  return value >= 100 || value === 0 ? value.toFixed(0) : value >= 10 ? value.toFixed(1) : value.toFixed(2);
}

function panel(
  box: PanelBox,
  title: string,
  axisLabel: string,
  value: (point: ChartPoint) => number,
  series: readonly ChartSeries[],
  concurrencies: readonly number[],
): string {
  const values = series.flatMap((s) => s.points.map(value)).filter(Number.isFinite);
  const max = niceCeiling(Math.max(0, ...values));
  const ticks = [0, 0.25, 0.5, 0.75, 1].map((share) => share * max);
  const bottom = box.top + box.height;
  const grid = ticks.map((tick) => {
    const y = yFor(box, tick, max).toFixed(1);
    return (
      `<line x1="${box.left}" y1="${y}" x2="${box.left + box.width}" y2="${y}" stroke="#ddd"/>` +
      `<text x="${box.left - 6}" y="${y}" text-anchor="end" dominant-baseline="middle">${format(tick)}</text>`
    );
  });
  const xTicks = concurrencies.map(
    (c, i) => `<text x="${xFor(box, i, concurrencies.length).toFixed(1)}" y="${bottom + 18}" text-anchor="middle">${c}</text>`,
  );
  const lines = series.map((s, index) => {
    const colour = COLOURS[index % COLOURS.length];
    const placed = s.points
      .filter((p) => Number.isFinite(value(p)) && concurrencies.includes(p.concurrency))
      .map((p) => ({
        x: xFor(box, concurrencies.indexOf(p.concurrency), concurrencies.length),
        y: yFor(box, value(p), max),
        v: value(p),
        c: p.concurrency,
      }));
    const path = placed.map((p) => `${p.x.toFixed(1)},${p.y.toFixed(1)}`).join(' ');
    const dots = placed.map(
      (p) =>
        `<circle cx="${p.x.toFixed(1)}" cy="${p.y.toFixed(1)}" r="3.5" fill="${colour}" data-concurrency="${p.c}" data-value="${p.v}">` +
        `<title>${escapeXml(s.name)} at ${p.c}: ${format(p.v)}</title></circle>`,
    );
    return (
      `<g class="series" data-series="${escapeXml(s.name)}">` +
      `<polyline points="${path}" fill="none" stroke="${colour}" stroke-width="2"/>${dots.join('')}</g>`
    );
  });
  return [
    `<g class="panel" data-axis-max="${max}">`,
    `<text x="${box.left + box.width / 2}" y="${box.top - 12}" text-anchor="middle" font-weight="bold">${escapeXml(title)}</text>`,
    ...grid,
    `<line x1="${box.left}" y1="${box.top}" x2="${box.left}" y2="${bottom}" stroke="#333"/>`,
    `<line x1="${box.left}" y1="${bottom}" x2="${box.left + box.width}" y2="${bottom}" stroke="#333"/>`,
    ...xTicks,
    `<text class="axis-label x" x="${box.left + box.width / 2}" y="${bottom + 38}" text-anchor="middle">requests outstanding (concurrency)</text>`,
    `<text class="axis-label y" transform="translate(${box.left - 50},${box.top + box.height / 2}) rotate(-90)" text-anchor="middle">${escapeXml(axisLabel)}</text>`,
    ...lines,
    '</g>',
  ].join('\n');
}

/** The two panels' plot areas, side by side: throughput on the left, latency on the right. */
export function panelBoxes(): [PanelBox, PanelBox] {
  const box = (column: number): PanelBox => ({
    left: column * (PANEL_WIDTH + MARGIN.left + MARGIN.right) + MARGIN.left,
    top: MARGIN.top,
    width: PANEL_WIDTH,
    height: PANEL_HEIGHT,
  });
  return [box(0), box(1)];
}

export function renderChart(input: ChartInput): string {
  const concurrencies = [...new Set(input.series.flatMap((s) => s.points.map((p) => p.concurrency)))].sort((a, b) => a - b);
  const [left, right] = panelBoxes();
  const width = 2 * (PANEL_WIDTH + MARGIN.left + MARGIN.right);
  const legendTop = MARGIN.top + PANEL_HEIGHT + MARGIN.bottom + 10;
  const height = legendTop + LEGEND_ROW * Math.ceil(input.series.length / 2) + 10;
  const legend = input.series.map((s, index) => {
    const x = MARGIN.left + (index % 2) * (width / 2);
    const y = legendTop + LEGEND_ROW * Math.floor(index / 2);
    return (
      `<g class="legend-item"><rect x="${x}" y="${y - 5}" width="14" height="4" fill="${COLOURS[index % COLOURS.length]}"/>` +
      `<text x="${x + 20}" y="${y}" dominant-baseline="middle">${escapeXml(s.name)}</text></g>`
    );
  });
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="12">`,
    `<rect width="${width}" height="${height}" fill="#fff"/>`,
    `<text x="${width / 2}" y="22" text-anchor="middle" font-size="16" font-weight="bold">${escapeXml(input.title)}</text>`,
    `<text x="${width / 2}" y="40" text-anchor="middle" fill="#555">${escapeXml(input.subtitle)}</text>`,
    panel(left, 'Throughput (higher is better)', 'accepts per second', (p) => p.acceptsPerSecond, input.series, concurrencies),
    panel(right, 'Latency (lower is better)', 'p99 latency (ms)', (p) => p.p99Ms, input.series, concurrencies),
    ...legend,
    '</svg>',
    '',
  ].join('\n');
}
