// The case dashboard's charts (/cases/dashboard/), drawn with ECharts from the figures the server
// put in <script id="..."> blocks (json_script). Only the chart types and components used here are
// imported, so the bundle carries no more of ECharts than that. Loaded by the dashboard page only.
import { BarChart, LineChart } from "echarts/charts";
import { GridComponent, LegendComponent, TooltipComponent } from "echarts/components";
import { init, use } from "echarts/core";
import type { EChartsCoreOption } from "echarts/core";
import { CanvasRenderer } from "echarts/renderers";

use([BarChart, LineChart, GridComponent, LegendComponent, TooltipComponent, CanvasRenderer]);

interface Series {
  name: string;
  data: (number | null)[];
  kind?: "bar" | "line";
}

interface ChartSpec {
  kind: "bar" | "line";
  stacked?: boolean;
  percent?: boolean; // values are fractions 0..1, shown as percentages
  x: string[];
  series: Series[];
}

const PALETTE = ["#1d4ed8", "#0f766e", "#c2410c", "#7c3aed", "#be123c", "#0369a1", "#4d7c0f", "#a16207", "#475569"];

function optionFor(spec: ChartSpec): EChartsCoreOption {
  const pct = (v: number): string => `${Math.round(v * 1000) / 10}%`;
  return {
    color: PALETTE,
    animation: false,
    tooltip: {
      trigger: "axis",
      valueFormatter: spec.percent ? (v: unknown) => (typeof v === "number" ? pct(v) : "—") : undefined,
    },
    legend: { show: spec.series.length > 1, type: "scroll", top: 0 },
    grid: { left: 8, right: 16, top: spec.series.length > 1 ? 32 : 12, bottom: 8, containLabel: true },
    xAxis: { type: "category", data: spec.x, axisLabel: { hideOverlap: true } },
    yAxis: {
      type: "value",
      minInterval: spec.percent ? undefined : 1,
      max: spec.percent ? 1 : undefined,
      axisLabel: spec.percent ? { formatter: (v: number) => pct(v) } : {},
    },
    series: spec.series.map((s) => ({
      name: s.name,
      type: s.kind ?? spec.kind,
      stack: spec.stacked ? "total" : undefined,
      data: s.data,
      barMaxWidth: 28,
      symbolSize: 5,
    })),
  };
}

function drawCharts(): void {
  document.querySelectorAll<HTMLElement>("[data-chart]").forEach((el) => {
    const source = document.getElementById(el.dataset.chart ?? "");
    if (!source?.textContent) return;
    const spec = JSON.parse(source.textContent) as ChartSpec;
    const chart = init(el, undefined, { renderer: "canvas" });
    chart.setOption(optionFor(spec));
    new ResizeObserver(() => chart.resize()).observe(el);
  });
}

if (document.readyState === "loading") {
  document.addEventListener("DOMContentLoaded", drawCharts);
} else {
  drawCharts();
}
