import assert from 'node:assert/strict';
import { test } from 'node:test';
import { type ChartInput, niceCeiling, panelBoxes, renderChart, xFor, yFor } from '../bench/chart.js';

const input: ChartInput = {
  title: 'TOTP verifications over RADIUS',
  subtitle: '2 CPUs, load average 0.10',
  series: [
    {
      name: 'freeradius-totp',
      points: [
        { concurrency: 1, acceptsPerSecond: 900, p99Ms: 2 },
        { concurrency: 16, acceptsPerSecond: 4_000, p99Ms: 9 },
        { concurrency: 64, acceptsPerSecond: 4_500, p99Ms: 30 },
      ],
    },
    {
      name: 'tally-sqlite <&>',
      points: [
        { concurrency: 1, acceptsPerSecond: 700, p99Ms: 3 },
        { concurrency: 16, acceptsPerSecond: 6_000, p99Ms: 12 },
        { concurrency: 64, acceptsPerSecond: 8_000, p99Ms: 40 },
      ],
    },
  ],
};

/** Every `<circle>` of one series in one panel, with where it sits and what it shows. */
function dots(svg: string, panelIndex: number, series: string): Array<{ cx: number; cy: number; concurrency: number; value: number }> {
  const panelText = svg.split('<g class="panel"')[panelIndex + 1]!;
  const group = panelText.split(`data-series="${series}">`)[1]!.split('</g>')[0]!;
  return [...group.matchAll(/<circle cx="([\d.]+)" cy="([\d.]+)"[^>]*data-concurrency="(\d+)" data-value="([\d.]+)"/g)].map((m) => ({
    cx: Number(m[1]),
    cy: Number(m[2]),
    concurrency: Number(m[3]),
    value: Number(m[4]),
  }));
}

test('the bench chart is one SVG with a series per target in each panel, named in the legend, its XML escaped', () => {
  const svg = renderChart(input);
  assert.match(svg, /^<svg xmlns="http:\/\/www.w3.org\/2000\/svg"/);
  assert.match(svg.trim(), /<\/svg>$/);
  assert.equal(svg.match(/<g class="panel"/g)?.length, 2);
  assert.equal(svg.match(/<g class="series"/g)?.length, 2 * input.series.length);
  assert.equal(svg.match(/<g class="legend-item">/g)?.length, input.series.length);
  assert.ok(svg.includes('tally-sqlite &#60;&#38;&#62;'));
  assert.ok(!svg.includes('tally-sqlite <&>'));
});

test('the bench chart labels its axes: concurrency across, accepts per second and p99 up, with the concurrencies as ticks', () => {
  const svg = renderChart(input);
  assert.equal(svg.match(/class="axis-label x"[^>]*>requests outstanding \(concurrency\)</g)?.length, 2);
  assert.match(svg, /class="axis-label y"[^>]*>accepts per second</);
  assert.match(svg, /class="axis-label y"[^>]*>p99 latency \(ms\)</);
  for (const concurrency of [1, 16, 64]) assert.match(svg, new RegExp(`text-anchor="middle">${concurrency}</text>`));
});

test('the bench chart places each value at its concurrency and at its height on an axis from 0 to a round maximum', () => {
  const svg = renderChart(input);
  const [throughput, latency] = panelBoxes();
  assert.equal(niceCeiling(8_000), 10_000);
  assert.equal(niceCeiling(40), 50);
  for (const [panelIndex, box, max, field] of [
    [0, throughput, 10_000, 'acceptsPerSecond'],
    [1, latency, 50, 'p99Ms'],
  ] as const) {
    input.series.forEach((series) => {
      const placed = dots(
        svg,
        panelIndex,
        series.name.replace(/[<>&]/g, (c) => `&#${c.charCodeAt(0)};`),
      );
      assert.equal(placed.length, series.points.length);
      series.points.forEach((point, index) => {
        const dot = placed[index]!;
        assert.equal(dot.concurrency, point.concurrency);
        assert.equal(dot.value, point[field]);
        assert.ok(Math.abs(dot.cx - xFor(box, index, 3)) < 0.1);
        assert.ok(Math.abs(dot.cy - yFor(box, point[field], max)) < 0.1);
      });
    });
    assert.match(svg.split('<g class="panel"')[panelIndex + 1]!, new RegExp(`^ data-axis-max="${max}"`));
  }
  // A higher value sits higher up (a smaller y).
  const [low, high] = dots(svg, 0, 'freeradius-totp');
  assert.ok(high!.cy < low!.cy);
});

test('the bench chart leaves out a value that was not measured instead of drawing it at zero', () => {
  const svg = renderChart({
    ...input,
    series: [{ name: 'half', points: [{ concurrency: 1, acceptsPerSecond: 10, p99Ms: Number.NaN }] }],
  });
  assert.equal(dots(svg, 0, 'half').length, 1);
  assert.equal(dots(svg, 1, 'half').length, 0);
});
