// Apache ECharts, tree-shaken through echarts/core (echarts.ts registers only the chart types and
// components used here) and loaded on first use, so the pages without charts stay light.
// Canvas renderer, `large` scatter and progressive lines for 10^5 points.
import type { LineSeriesOption, ScatterSeriesOption } from 'echarts/charts';
import type {
  GridComponentOption,
  LegendComponentOption,
  TooltipComponentOption,
  VisualMapComponentOption,
} from 'echarts/components';
import type { ComposeOption, ECharts } from 'echarts/core';
import { useEffect, useRef } from 'preact/hooks';

let echartsModule: Promise<typeof import('./echarts')> | null = null;
/** Starts loading ECharts (pages with charts call it on entry, in parallel with their data). */
export const loadEcharts = () => (echartsModule ??= import('./echarts').then(warm));

/**
 * Draws one small off-screen chart with the parts the pages use, while the page's data is still
 * on its way: the first real chart then runs warm code instead of paying for it after the data.
 */
function warm(m: typeof import('./echarts')): typeof import('./echarts') {
  const el = document.createElement('div');
  el.style.cssText = 'position:absolute;left:-10000px;top:0;width:300px;height:200px';
  document.body.appendChild(el);
  const c = m.init(el, null, { renderer: 'canvas' });
  const data = Array.from({ length: 50 }, (_, i) => [i, Math.sin(i)]);
  c.setOption({
    animation: false,
    grid: {},
    tooltip: { trigger: 'axis' },
    legend: {},
    xAxis: { type: 'value' },
    yAxis: { type: 'log' },
    series: [
      { type: 'line', stack: 's', areaStyle: {}, data },
      {
        type: 'line',
        data,
        markPoint: { data: [{ coord: [1, 1] }] },
        markLine: { data: [{ xAxis: 1 }] },
      },
      { type: 'scatter', data },
    ],
  });
  c.dispose();
  el.remove();
  return m;
}

export type ChartOption = ComposeOption<
  | LineSeriesOption
  | ScatterSeriesOption
  | GridComponentOption
  | TooltipComponentOption
  | LegendComponentOption
  | VisualMapComponentOption
>;

/** Live chart instances by name, for the browser tests (they read the drawn series back). */
const registry = new Map<string, ECharts>();
(window as unknown as { fidlabCharts: typeof registry }).fidlabCharts = registry;

/** Resolves once every chart drawn so far has finished rendering. */
const pending = new Set<Promise<void>>();
export function chartsSettled(): Promise<void> {
  return Promise.all([...pending]).then(() => undefined);
}

export const PALETTE = [
  '#2f6fd0',
  '#d0562f',
  '#2f9e5b',
  '#8a4fd0',
  '#c49a1b',
  '#1b9ec4',
  '#c41b6b',
  '#6b6b6b',
  '#5b8c2f',
  '#b5651d',
];

export function Chart(props: { name: string; option: ChartOption; height?: number }) {
  const el = useRef<HTMLDivElement>(null);
  const chart = useRef<Promise<ECharts> | null>(null);
  useEffect(() => {
    let ro: ResizeObserver | null = null;
    let disposed = false;
    chart.current = loadEcharts().then((echarts) => {
      const c = echarts.init(el.current!, null, { renderer: 'canvas' });
      // Redraw only on a real size change (the observer also fires once on observe()).
      ro = new ResizeObserver(([e]) => {
        const { width, height } = e.contentRect;
        if (Math.round(width) !== c.getWidth() || Math.round(height) !== c.getHeight()) c.resize();
      });
      ro.observe(el.current!);
      if (disposed) c.dispose();
      return c;
    });
    const mine = chart.current;
    return () => {
      disposed = true;
      ro?.disconnect();
      registry.delete(props.name);
      void mine.then((c) => c.dispose());
    };
  }, []);
  useEffect(() => {
    const done = chart.current!.then(
      (c) =>
        new Promise<void>((resolve) => {
          registry.set(props.name, c);
          c.off('finished');
          c.on('finished', () => resolve());
          c.setOption({ animation: false, ...props.option }, { notMerge: true });
        }),
    );
    pending.add(done);
    void done.then(() => pending.delete(done));
  }, [props.option, props.name]);
  return (
    <div
      class="chart"
      data-chart={props.name}
      ref={el}
      style={{ height: `${props.height ?? 260}px` }}
    />
  );
}
