// The big screen (大屏, /onemap/screen/): a 1920×1080 dark dashboard of the command center, scaled to
// the wall. Figures come from the page's JSON (screen_figures on the server), asked for again every
// minute and a few seconds after each live event; the map draws the grids coloured by open and
// overdue cases; the feed panel shows the live events. See docs/onemap.md.
import "./screen.css";
import L from "leaflet";
import { BarChart, LineChart, PieChart } from "echarts/charts";
import { GridComponent, LegendComponent, TooltipComponent } from "echarts/components";
import { init, use } from "echarts/core";
import type { ECharts, EChartsCoreOption } from "echarts/core";
import { CanvasRenderer } from "echarts/renderers";
import { toTilesCrs } from "./coords";
import type { TilesCrs } from "./coords";
import { connectFeed, mountFeedPanel } from "./feed";

use([BarChart, LineChart, PieChart, GridComponent, LegendComponent, TooltipComponent, CanvasRenderer]);

const WIDTH = 1920;
const HEIGHT = 1080;
const REFRESH_MS = 60_000;
const AFTER_EVENT_MS = 3_000;
const TEXT = "#c7d7ee";
const PALETTE = ["#38bdf8", "#34d399", "#fbbf24", "#f472b6", "#a78bfa", "#fb923c", "#22d3ee", "#facc15", "#94a3b8"];

interface CaseRow {
  number: string;
  title: string;
  grid: string;
  department: string;
  state: string;
  level: number;
  late_minutes: number;
  url: string;
}

interface Figures {
  now: string;
  today: Record<string, number | null>;
  month: Record<string, number | null>;
  now_open: Record<string, number>;
  trend: { x: string[]; reported: number[]; closed: number[]; proactive_rate: (number | null)[] };
  by_source: { name: string; value: number }[];
  by_category: { name: string; value: number }[];
  by_grid: { code: string; name: string; open: number; overdue: number }[];
  overdue: CaseRow[];
  supervised: CaseRow[];
  snapshots: { number: string; source: string; category: string; at: string; url: string; case_url: string }[];
  drones: { share: number | null; flights: number; coverage: number | null };
}

const stage = document.getElementById("screen") as HTMLElement;
const strings = JSON.parse(document.getElementById("screen-strings")?.textContent ?? "{}") as Record<string, string>;
const t = (key: string): string => strings[key] ?? key;

function fit(): void {
  const scale = Math.min(window.innerWidth / WIDTH, window.innerHeight / HEIGHT);
  stage.style.transform = `scale(${scale})`;
  stage.style.left = `${Math.max(0, (window.innerWidth - WIDTH * scale) / 2)}px`;
  stage.style.top = `${Math.max(0, (window.innerHeight - HEIGHT * scale) / 2)}px`;
}

function tick(): void {
  const clock = document.getElementById("screen-clock");
  if (!clock) return;
  clock.textContent = new Intl.DateTimeFormat("zh-CN", {
    timeZone: "Asia/Shanghai",
    year: "numeric",
    month: "2-digit",
    day: "2-digit",
    hour: "2-digit",
    minute: "2-digit",
    second: "2-digit",
    hour12: false,
  }).format(new Date());
}

function pct(v: number | null | undefined): string {
  return typeof v === "number" ? `${Math.round(v * 1000) / 10}%` : "—";
}

function showKpis(f: Figures): void {
  document.querySelectorAll<HTMLElement>("[data-kpi]").forEach((el) => {
    const [group, key] = (el.dataset.kpi ?? "").split(".");
    const value = (f as unknown as Record<string, Record<string, number | null>>)[group]?.[key];
    el.textContent = el.dataset.format === "percent" ? pct(value) : typeof value === "number" ? value.toLocaleString("zh-CN") : "—";
  });
}

const charts = new Map<string, ECharts>();

function chart(id: string, option: EChartsCoreOption): void {
  const el = document.getElementById(id);
  if (!el) return;
  let c = charts.get(id);
  if (!c) {
    c = init(el, undefined, { renderer: "canvas" });
    charts.set(id, c);
  }
  c.setOption({ color: PALETTE, animation: false, textStyle: { color: TEXT, fontSize: 14 }, ...option }, true);
}

const AXIS = { axisLine: { lineStyle: { color: "#36507a" } }, splitLine: { lineStyle: { color: "#1b2d4d" } }, axisLabel: { color: TEXT } };

function showCharts(f: Figures): void {
  chart("chart-trend", {
    tooltip: { trigger: "axis" },
    legend: { top: 0, textStyle: { color: TEXT } },
    grid: { left: 8, right: 8, top: 30, bottom: 4, containLabel: true },
    xAxis: { type: "category", data: f.trend.x, ...AXIS },
    yAxis: { type: "value", minInterval: 1, ...AXIS },
    series: [
      { name: t("reported"), type: "line", smooth: true, areaStyle: { opacity: 0.15 }, data: f.trend.reported },
      { name: t("closed"), type: "line", smooth: true, data: f.trend.closed },
    ],
  });
  const pie = (data: { name: string; value: number }[]): EChartsCoreOption => ({
    tooltip: { trigger: "item" },
    series: [
      {
        type: "pie",
        radius: ["38%", "68%"],
        data,
        label: { color: TEXT, formatter: "{b} {d}%" },
        labelLine: { lineStyle: { color: "#36507a" } },
      },
    ],
  });
  chart("chart-source", pie(f.by_source));
  chart("chart-category", {
    tooltip: { trigger: "axis" },
    grid: { left: 8, right: 16, top: 8, bottom: 4, containLabel: true },
    xAxis: { type: "value", minInterval: 1, ...AXIS },
    yAxis: { type: "category", inverse: true, data: f.by_category.map((c) => c.name), ...AXIS },
    series: [{ type: "bar", data: f.by_category.map((c) => c.value), barMaxWidth: 16 }],
  });
  chart("chart-grids", {
    tooltip: { trigger: "axis" },
    legend: { top: 0, textStyle: { color: TEXT } },
    grid: { left: 8, right: 16, top: 28, bottom: 4, containLabel: true },
    xAxis: { type: "category", data: f.by_grid.map((g) => g.name), ...AXIS, axisLabel: { color: TEXT, interval: 0, rotate: 30 } },
    yAxis: { type: "value", minInterval: 1, ...AXIS },
    series: [
      { name: t("open"), type: "bar", data: f.by_grid.map((g) => g.open - g.overdue), stack: "o", barMaxWidth: 22 },
      { name: t("overdue"), type: "bar", data: f.by_grid.map((g) => g.overdue), stack: "o", itemStyle: { color: "#f43f5e" } },
    ],
  });
}

function showList(id: string, rows: CaseRow[], supervised: boolean): void {
  const list = document.getElementById(id);
  if (!list) return;
  list.replaceChildren();
  if (!rows.length) {
    const empty = document.createElement("li");
    empty.className = "empty";
    empty.textContent = t("none");
    list.append(empty);
  }
  for (const row of rows) {
    const li = document.createElement("li");
    const link = document.createElement("a");
    link.href = row.url;
    link.textContent = `${row.number} ${row.title}`;
    const meta = document.createElement("span");
    const hours = Math.floor(row.late_minutes / 60);
    const late = row.late_minutes ? `${t("late")} ${hours ? `${hours}h` : `${row.late_minutes}m`}` : "";
    meta.textContent = [row.grid, row.department, supervised ? `${row.level}${t("level")}` : late].filter(Boolean).join(" · ");
    li.append(link, meta);
    list.append(li);
  }
}

function showSnapshots(f: Figures): void {
  const box = document.getElementById("screen-snapshots");
  if (!box) return;
  box.replaceChildren();
  for (const s of f.snapshots) {
    const a = document.createElement("a");
    a.href = s.case_url;
    a.className = "screen-snap";
    const img = document.createElement("img");
    img.src = s.url;
    img.alt = s.number;
    img.loading = "lazy";
    const cap = document.createElement("span");
    cap.textContent = `${s.at} ${s.source} ${s.category}`;
    a.append(img, cap);
    box.append(a);
  }
  if (!f.snapshots.length) box.textContent = t("none");
}

// --- the map: grids coloured by open and overdue cases ---------------------------------------------
const crs = (document.body.dataset.tilesCrs || "wgs84") as TilesCrs;
const map = L.map("screen-map", { zoomControl: false, attributionControl: false, zoomSnap: 0.25 });
map.setView([36.5, 103.68], 13);
if (document.body.dataset.tilesUrl) L.tileLayer(document.body.dataset.tilesUrl, { opacity: 0.5 }).addTo(map);
const gridLayer = L.geoJSON(undefined, {
  coordsToLatLng: (c: number[]) => {
    const [lon, lat] = toTilesCrs(c[0], c[1], crs);
    return L.latLng(lat, lon);
  },
  style: (feature) => {
    const p = (feature?.properties ?? {}) as { open?: number; overdue?: number };
    const heat = Math.min(1, (p.open ?? 0) / 40);
    const color = (p.overdue ?? 0) > 0 ? "#f43f5e" : "#38bdf8";
    return { color, weight: (p.overdue ?? 0) > 0 ? 2.5 : 1.5, fillColor: color, fillOpacity: 0.08 + 0.45 * heat };
  },
  onEachFeature: (feature, layer) => {
    const p = (feature.properties ?? {}) as { name?: string; open?: number; overdue?: number };
    layer.bindTooltip(`${p.name ?? ""} · ${t("open")} ${p.open ?? 0} · ${t("overdue")} ${p.overdue ?? 0}`);
  },
}).addTo(map);
let fitted = false;

async function showGrids(): Promise<void> {
  const url = stage.dataset.gridsUrl;
  if (!url) return;
  const answer = await fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } });
  if (!answer.ok) return;
  const data = (await answer.json()) as GeoJSON.FeatureCollection;
  gridLayer.clearLayers();
  gridLayer.addData(data);
  const status = document.getElementById("screen-map-status");
  if (status) status.textContent = `${t("grids")} ${data.features.length}`;
  if (!fitted && data.features.length) {
    map.fitBounds(gridLayer.getBounds(), { padding: [8, 8] });
    fitted = true;
  }
}

// --- refresh -----------------------------------------------------------------------------------------
let pending: number | undefined;

async function refresh(): Promise<void> {
  const answer = await fetch(stage.dataset.url ?? "", { credentials: "same-origin", headers: { Accept: "application/json" } });
  if (!answer.ok) return;
  const f = (await answer.json()) as Figures;
  showKpis(f);
  showCharts(f);
  showList("screen-overdue", f.overdue, false);
  showList("screen-supervised", f.supervised, true);
  showSnapshots(f);
  stage.dataset.updated = f.now;
  await showGrids();
}

function soon(): void {
  if (pending !== undefined) return;
  pending = window.setTimeout(() => {
    pending = undefined;
    void refresh();
  }, AFTER_EVENT_MS);
}

fit();
window.addEventListener("resize", fit);
tick();
window.setInterval(tick, 1000);
void refresh();
window.setInterval(() => void refresh(), REFRESH_MS);
const panel = mountFeedPanel(document.getElementById("feed-panel") as HTMLElement, { limit: 8 });
connectFeed({
  onEvent: (m) => {
    panel.push(m);
    soon();
  },
  onStatus: (s) => document.getElementById("screen-live")?.classList.toggle("live", s === "live"),
});
