// The one map page (一张图): layers, filters, search, detail panel, live updates. See docs/onemap.md.
//
// Every coordinate from the server is WGS-84. When the tiles are drawn in GCJ-02 (Amap, Tencent),
// `toMap` converts each one before drawing and `fromMap` converts the viewport and clicks back, so
// the server only ever sees WGS-84 (coords.ts; the same formulas as core/geo.py).
import L from "leaflet";
import { leafletLayer, LineSymbolizer, PolygonSymbolizer, type PaintRule } from "protomaps-leaflet";
import { fromTilesCrs, toTilesCrs } from "./coords";
import { connectFeed, mountFeedPanel, type FeedMessage } from "./feed";

interface TileSource {
  kind: string;
  urls: string[];
  subdomains: string;
  crs: string;
  attribution: string;
  max_zoom: number;
}

interface Config {
  tiles: TileSource;
  basemap: { url: string; layers: string[]; min_zoom: number; max_zoom: number };
  api: Record<"grids" | "cases" | "cameras" | "assets" | "units" | "drones" | "missions" | "search", string>;
  feed_url: string;
  case_url: string;
  states: Record<string, string>;
  state_kinds: Record<string, string>;
  actions: Record<string, string>;
  strings: Record<string, string>;
}

type LayerName = "grids" | "cases" | "cameras" | "assets" | "units" | "drones" | "missions";
type Props = Record<string, unknown>;
type FC = GeoJSON.FeatureCollection<GeoJSON.Geometry, Props> & { mode?: string; count?: number };

const DEFAULT_CENTER: [number, number] = [103.68, 36.5]; // lon, lat: Lanzhou New Area
const KIND_COLOURS: Record<string, string> = {
  open: "#dc2626", // 待受理: red, the command center's to-do
  in_progress: "#d97706",
  resolved: "#2563eb",
  closed: "#16a34a",
};

/** Which datum the map is drawn in; "wgs84" needs no conversion (offline, Tianditu, OSM). */
export function mapCrs(tiles: TileSource): string {
  return tiles.kind === "offline" ? "wgs84" : tiles.crs;
}

function el<K extends keyof HTMLElementTagNameMap>(tag: K, cls = "", text = ""): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  if (cls) node.className = cls;
  if (text) node.textContent = text;
  return node;
}

function debounce(fn: () => void, ms: number): () => void {
  let timer = 0;
  return () => {
    window.clearTimeout(timer);
    timer = window.setTimeout(fn, ms);
  };
}

function basemapRules(): PaintRule[] {
  return [
    {
      dataLayer: "grids",
      symbolizer: new PolygonSymbolizer({ fill: "#eef2ff", opacity: 0.6, stroke: "#6366f1", width: 1 }),
    },
    { dataLayer: "roads", symbolizer: new LineSymbolizer({ color: "#cbd5e1", width: (z: number) => (z >= 15 ? 6 : 3) }) },
    {
      dataLayer: "roads",
      symbolizer: new LineSymbolizer({ color: "#ffffff", width: (z: number) => (z >= 15 ? 4 : 1.5) }),
    },
    {
      dataLayer: "buildings",
      minzoom: 14,
      symbolizer: new PolygonSymbolizer({ fill: "#cbd5e1", opacity: 0.9, stroke: "#94a3b8", width: 0.5 }),
    },
  ];
}

class OneMap {
  readonly map: L.Map;
  readonly crs: string;
  readonly layers: Record<LayerName, L.LayerGroup> = {
    grids: L.layerGroup(),
    cases: L.layerGroup(),
    cameras: L.layerGroup(),
    assets: L.layerGroup(),
    units: L.layerGroup(),
    drones: L.layerGroup(),
    missions: L.layerGroup(),
  };
  readonly droneMarkers = new Map<number, L.Marker>();
  readonly counts: Partial<Record<LayerName, number>> = {};
  readonly caseMarkers = new Map<number, L.CircleMarker>();
  caseMode = "points";
  readonly status = document.getElementById("onemap-status");
  readonly filters = document.getElementById("onemap-filters") as HTMLFormElement | null;

  constructor(
    readonly root: HTMLElement,
    readonly config: Config,
  ) {
    this.crs = mapCrs(config.tiles);
    this.map = L.map(root, { zoomControl: true, preferCanvas: false, maxZoom: 19 });
    this.drawBasemap();
    const [lon, lat] = DEFAULT_CENTER;
    this.map.setView(this.toMap(lon, lat), 13);
    for (const name of Object.keys(this.layers) as LayerName[]) {
      if (this.enabled(name)) this.layers[name].addTo(this.map);
    }
    this.map.on("moveend", debounce(() => this.reloadViewport(), 250));
    this.filters?.addEventListener("change", (e) => this.onFilter(e));
  }

  toMap(lon: number, lat: number): L.LatLng {
    const [x, y] = toTilesCrs(lon, lat, this.crs);
    return L.latLng(y, x);
  }

  fromMap(latlng: L.LatLng): [number, number] {
    return fromTilesCrs(latlng.lng, latlng.lat, this.crs);
  }

  /** The viewport in WGS-84, for the server (converted back from the tiles' datum). */
  bbox(): string {
    const b = this.map.getBounds();
    const [x0, y0] = this.fromMap(b.getSouthWest());
    const [x1, y1] = this.fromMap(b.getNorthEast());
    const clamp = (v: number, lim: number) => Math.max(-lim, Math.min(lim, v));
    return [clamp(x0, 180), clamp(y0, 90), clamp(x1, 180), clamp(y1, 90)].map((v) => v.toFixed(6)).join(",");
  }

  drawBasemap(): void {
    const tiles = this.config.tiles;
    if (tiles.kind === "offline") {
      if (this.config.basemap.url) {
        const layer = leafletLayer({
          url: this.config.basemap.url,
          paintRules: basemapRules(),
          labelRules: [],
          maxDataZoom: this.config.basemap.max_zoom,
          backgroundColor: "#f8fafc",
          attribution: "",
        }) as unknown as L.Layer;
        layer.addTo(this.map);
      } else {
        this.root.classList.add("map-offline");
      }
      return;
    }
    for (const url of tiles.urls) {
      L.tileLayer(url, { subdomains: tiles.subdomains || "abc", maxZoom: tiles.max_zoom, attribution: tiles.attribution }).addTo(
        this.map,
      );
    }
  }

  enabled(name: LayerName): boolean {
    const box = this.filters?.querySelector<HTMLInputElement>(`input[name=layer][value=${name}]`);
    return box ? box.checked : name !== "assets" && name !== "cameras" && name !== "missions";
  }

  onFilter(e: Event): void {
    const target = e.target as HTMLInputElement;
    if (target.name === "q") return;
    if (target.name === "layer") {
      const name = target.value as LayerName;
      if (target.checked) {
        this.layers[name].addTo(this.map);
        void this.load(name);
      } else {
        this.layers[name].remove();
        delete this.counts[name];
        this.showStatus();
      }
      return;
    }
    void this.load("cases");
  }

  caseQuery(): URLSearchParams {
    const params = new URLSearchParams();
    if (this.filters) {
      const data = new FormData(this.filters);
      for (const key of ["category", "state_kind", "source", "created_after", "created_before", "overdue", "open"]) {
        const v = data.get(key);
        if (typeof v === "string" && v) params.set(key, v);
      }
    }
    return params;
  }

  async fetchJson<T>(url: string): Promise<T | null> {
    const answer = await fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } });
    if (!answer.ok) return null;
    return (await answer.json()) as T;
  }

  reloadViewport(): void {
    for (const name of ["cases", "cameras", "assets"] as LayerName[]) {
      if (this.enabled(name)) void this.load(name);
    }
  }

  async loadAll(): Promise<void> {
    await Promise.all((Object.keys(this.layers) as LayerName[]).filter((n) => this.enabled(n)).map((n) => this.load(n)));
    const grids = this.layers.grids.getLayers()[0] as L.GeoJSON | undefined;
    const bounds = grids?.getBounds();
    if (bounds?.isValid()) this.map.fitBounds(bounds, { padding: [12, 12] });
  }

  async load(name: LayerName): Promise<void> {
    const zoom = String(Math.round(this.map.getZoom()));
    let url = this.config.api[name];
    if (name === "cases") url += "?" + new URLSearchParams([...this.caseQuery(), ["bbox", this.bbox()], ["zoom", zoom]]);
    if (name === "cameras") url += "?" + new URLSearchParams({ bbox: this.bbox() });
    if (name === "assets") url += "?" + new URLSearchParams({ bbox: this.bbox(), zoom });
    const data = await this.fetchJson<FC>(url);
    if (!data) return;
    const group = this.layers[name];
    group.clearLayers();
    if (name === "grids") this.drawGrids(data);
    else if (name === "cases") this.drawCases(data);
    else if (name === "units") this.drawUnits(data);
    else if (name === "drones") this.drawDrones(data);
    else if (name === "missions") this.drawMissions(data);
    else this.drawAssets(name, data);
    this.counts[name] =
      name === "drones"
        ? this.droneMarkers.size
        : name === "missions"
          ? new Set(data.features.map((f) => f.properties.id)).size
          : name === "grids" || name === "units"
            ? data.features.length
            : (data.count ?? data.features.length);
    this.showStatus();
  }

  showStatus(): void {
    if (!this.status) return;
    const s = this.config.strings;
    const parts = (Object.keys(this.layers) as LayerName[])
      .filter((n) => this.counts[n] !== undefined)
      .map((n) => `${s[n]} ${this.counts[n]}`);
    this.status.textContent = parts.join(" · ");
    for (const [name, count] of Object.entries(this.counts)) this.status.dataset[name] = String(count);
    this.status.dataset.casesMode = this.caseMode;
  }

  geo(data: FC, style: (p: Props) => L.PathOptions, onClick?: (p: Props) => void): L.GeoJSON {
    return L.geoJSON(data, {
      coordsToLatLng: (c) => this.toMap(c[0], c[1]),
      style: (f) => style((f?.properties ?? {}) as Props),
      onEachFeature: (f, layer) => {
        if (onClick) layer.on("click", () => onClick((f.properties ?? {}) as Props));
      },
    });
  }

  drawGrids(data: FC): void {
    const layer = this.geo(
      data,
      (p) => {
        const open = Number(p.open ?? 0);
        const overdue = Number(p.overdue ?? 0);
        const fill = overdue > 0 ? "#ef4444" : open > 0 ? "#f59e0b" : "#22c55e";
        return { className: "onemap-grid", color: "#1d4ed8", weight: 1.5, fillColor: fill, fillOpacity: Math.min(0.1 + open * 0.02, 0.45) };
      },
      (p) => this.showGrid(p),
    );
    layer.eachLayer((l) => {
      const f = (l as L.GeoJSON).feature as GeoJSON.Feature | undefined;
      const p = (f?.properties ?? {}) as Props;
      (l as L.Path).bindTooltip(`${p.name} · ${this.config.strings.open} ${p.open} · ${this.config.strings.overdue} ${p.overdue}`, { sticky: true });
    });
    this.layers.grids.addLayer(layer);
  }

  caseStyle(p: Props): L.CircleMarkerOptions {
    const colour = KIND_COLOURS[String(p.state_kind)] ?? "#6b7280";
    return {
      radius: p.urgency === "normal" ? 6 : 8,
      color: p.overdue ? "#7f1d1d" : "#ffffff",
      weight: p.overdue ? 3 : 1.5,
      fillColor: colour,
      fillOpacity: 0.9,
      className: `onemap-case onemap-case-${p.state_kind}${p.overdue ? " onemap-overdue" : ""}`,
    };
  }

  drawCases(data: FC): void {
    this.caseMarkers.clear();
    this.caseMode = data.mode ?? "points";
    for (const f of data.features) {
      const p = f.properties;
      const [lon, lat] = (f.geometry as GeoJSON.Point).coordinates;
      if (p.cluster) {
        this.layers.cases.addLayer(this.clusterMarker(lon, lat, p));
        continue;
      }
      const marker = L.circleMarker(this.toMap(lon, lat), this.caseStyle(p));
      marker.bindTooltip(`${p.number} ${p.category ?? ""} · ${this.config.states[String(p.state)] ?? p.state}`);
      marker.on("click", () => void this.showCase(Number(p.id)));
      this.caseMarkers.set(Number(p.id), marker);
      this.layers.cases.addLayer(marker);
    }
  }

  clusterMarker(lon: number, lat: number, p: Props): L.Marker {
    const count = Number(p.count);
    const overdue = Number(p.overdue ?? 0);
    const size = count >= 1000 ? 48 : count >= 100 ? 40 : 32;
    const icon = L.divIcon({
      className: `onemap-cluster${overdue ? " onemap-cluster-overdue" : ""}`,
      html: `<span>${count}</span>${overdue ? `<b>${overdue}</b>` : ""}`,
      iconSize: [size, size],
    });
    const marker = L.marker(this.toMap(lon, lat), { icon });
    const kinds = Object.entries(this.config.state_kinds)
      .map(([k, label]) => `${label} ${p[k] ?? 0}`)
      .join(" · ");
    marker.bindTooltip(`${count} · ${this.config.strings.overdue} ${overdue}<br>${kinds}`);
    marker.on("click", () => this.map.setView(marker.getLatLng(), Math.min(this.map.getZoom() + 2, 18)));
    return marker;
  }

  drawAssets(name: LayerName, data: FC): void {
    for (const f of data.features) {
      const p = f.properties;
      const [lon, lat] = (f.geometry as GeoJSON.Point).coordinates;
      if (p.cluster) {
        this.layers[name].addLayer(this.clusterMarker(lon, lat, p));
        continue;
      }
      if (name === "cameras" && p.kind === "camera") {
        this.layers.cameras.addLayer(this.cameraMarker(lon, lat, p));
        continue;
      }
      const marker = L.circleMarker(this.toMap(lon, lat), {
        radius: name === "cameras" ? 5 : 4,
        color: name === "cameras" ? "#0e7490" : "#57534e",
        weight: 1,
        fillColor: p.status === "normal" ? (name === "cameras" ? "#22d3ee" : "#a8a29e") : "#f43f5e",
        fillOpacity: 0.9,
        className: `onemap-${name}`,
      });
      marker.bindTooltip(`${p.name} · ${p.category}`);
      this.layers[name].addLayer(marker);
    }
  }

  // A camera of the video register, coloured by its status; the popup links to its camera page.
  cameraMarker(lon: number, lat: number, p: Props): L.CircleMarker {
    const colours: Record<string, string> = {
      online: "#16a34a",
      degraded: "#f59e0b",
      offline: "#dc2626",
      unknown: "#94a3b8",
    };
    const status = String(p.status);
    const marker = L.circleMarker(this.toMap(lon, lat), {
      radius: 6,
      color: "#0f172a",
      weight: 1,
      fillColor: colours[status] ?? colours.unknown,
      fillOpacity: 0.95,
      className: `onemap-cameras onemap-camera-${status}`,
    });
    marker.bindTooltip(`${p.name} · ${p.status_label}`);
    const link = `<a href="${escapeHtml(String(p.url))}" data-camera-link>${escapeHtml(this.config.strings.open_camera ?? "查看画面")}</a>`;
    marker.bindPopup(`<strong>${escapeHtml(String(p.name))}</strong> <span>${escapeHtml(String(p.status_label))}</span><br>${escapeHtml(String(p.code))} · ${link}`);
    return marker;
  }

  drawUnits(data: FC): void {
    for (const f of data.features) {
      const p = f.properties;
      const [lon, lat] = (f.geometry as GeoJSON.Point).coordinates;
      const status = String(p.status);
      const marker = L.marker(this.toMap(lon, lat), {
        icon: L.divIcon({ className: `onemap-unit onemap-unit-${status}`, html: "<span></span>", iconSize: [18, 18] }),
      });
      marker.bindTooltip(`${p.name} · ${this.config.strings[status] ?? status}`);
      marker.on("click", () => this.showUnit(p));
      this.layers.units.addLayer(marker);
    }
  }

  // Drones at their last position (a rotated arrow: the heading) and docks; the live feed's
  // drones.position events move a marker in place (onDrone).
  drawDrones(data: FC): void {
    this.droneMarkers.clear();
    for (const f of data.features) {
      const p = f.properties;
      const [lon, lat] = (f.geometry as GeoJSON.Point).coordinates;
      if (p.kind === "dock") {
        const dock = L.circleMarker(this.toMap(lon, lat), {
          radius: 6,
          color: "#334155",
          weight: 2,
          fillColor: "#e2e8f0",
          fillOpacity: 1,
          className: "onemap-dock",
        });
        dock.bindTooltip(`${this.config.strings.dock} · ${p.name}`);
        this.layers.drones.addLayer(dock);
        continue;
      }
      const marker = L.marker(this.toMap(lon, lat), { icon: droneIcon(p.heading as number | null), zIndexOffset: 500 });
      const battery = p.battery === null || p.battery === undefined ? "" : ` · ${this.config.strings.battery} ${p.battery}%`;
      marker.bindTooltip(`${p.name} (${p.code})${battery}`);
      this.droneMarkers.set(Number(p.id), marker);
      this.layers.drones.addLayer(marker);
      const node = marker.getElement();
      if (node) node.dataset.drone = String(p.code);
    }
  }

  onDrone(p: Props): void {
    const id = Number(p.drone_id);
    const lon = Number(p.lon);
    const lat = Number(p.lat);
    if (!Number.isFinite(lon) || !Number.isFinite(lat) || !this.enabled("drones")) return;
    const marker = this.droneMarkers.get(id);
    if (!marker) {
      this.dronesSoon(); // a drone that just took off: read the layer (its name, its scope)
      return;
    }
    marker.setLatLng(this.toMap(lon, lat));
    marker.setIcon(droneIcon(p.heading as number | null));
  }

  readonly dronesSoon = debounce(() => void this.load("drones"), 1000);

  drawMissions(data: FC): void {
    const layer = this.geo(
      data,
      (p) =>
        p.kind === "route"
          ? { className: "onemap-mission-route", color: "#ea580c", weight: 2, opacity: 0.9 }
          : { className: "onemap-mission-coverage", color: "#15803d", weight: 0.5, fillColor: "#22c55e", fillOpacity: 0.15 },
      (p) => {
        window.location.href = String(p.url);
      },
    );
    layer.eachLayer((l) => {
      const f = (l as L.GeoJSON).feature as GeoJSON.Feature | undefined;
      const p = (f?.properties ?? {}) as Props;
      (l as L.Path).bindTooltip(`${p.name} (${p.code}) · ${this.config.strings.open_mission}`, { sticky: true });
    });
    this.layers.missions.addLayer(layer);
  }

  // --- the detail panel ----------------------------------------------------------------------

  panel(): HTMLElement | null {
    const section = document.getElementById("onemap-detail");
    const body = document.getElementById("onemap-detail-body");
    if (!section || !body) return null;
    section.hidden = false;
    body.replaceChildren();
    return body;
  }

  fields(body: HTMLElement, title: string, rows: [string, string][]): void {
    body.append(el("h2", "", title));
    const dl = el("dl", "fields");
    for (const [k, v] of rows) dl.append(el("dt", "", k), el("dd", "", v));
    body.append(dl);
  }

  async showCase(id: number): Promise<void> {
    const c = await this.fetchJson<Props & { category?: { name: string } | null; allowed_actions?: string[] }>(
      `/api/cases/${id}/`,
    );
    const body = this.panel();
    if (!c || !body) return;
    body.dataset.case = String(c.number);
    const due = c.due_at ? new Date(String(c.due_at)).toLocaleString() : "—";
    this.fields(body, String(c.number), [
      [this.config.strings.state, String(c.state_label)],
      [this.config.strings.category, c.category?.name ?? "—"],
      [this.config.strings.address, String(c.address || "—")],
      [this.config.strings.due, due + (c.overdue ? ` · ${this.config.strings.overdue}` : "")],
    ]);
    const url = this.config.case_url.replace("NUMBER", encodeURIComponent(String(c.number)));
    const acts = el("div", "onemap-acts");
    for (const act of c.allowed_actions ?? []) {
      if (act === "note") continue;
      const a = el("a", "btn btn-small", this.config.actions[act] ?? act);
      a.href = `${url}#case-actions`;
      a.dataset.act = act;
      acts.append(a);
    }
    const open = el("a", "btn btn-primary btn-small", this.config.strings.open_case);
    open.href = url;
    acts.append(open);
    body.append(acts);
  }

  showGrid(p: Props): void {
    const body = this.panel();
    if (!body) return;
    body.dataset.grid = String(p.code);
    this.fields(body, String(p.name), [
      [this.config.strings.code, String(p.code)],
      [this.config.strings.open, String(p.open)],
      [this.config.strings.overdue, String(p.overdue)],
    ]);
    const a = el("a", "btn btn-small", this.config.strings.grid_detail);
    a.href = String(p.url);
    body.append(a);
  }

  showUnit(p: Props): void {
    const body = this.panel();
    if (!body) return;
    const minutes = p.at ? Math.round((Date.now() - new Date(String(p.at)).getTime()) / 60000) : null;
    this.fields(body, String(p.name), [
      [this.config.strings.state, this.config.strings[String(p.status)] ?? String(p.status)],
      [this.config.strings.position, minutes === null ? "—" : `${minutes} ${this.config.strings.minutes_ago}`],
      [this.config.strings.department, String(p.department ?? "—")],
    ]);
  }

  // --- live updates --------------------------------------------------------------------------

  /** A case moved, changed state or appeared: update its marker in place, no reload. */
  onCase(c: NonNullable<FeedMessage["case"]>): void {
    if (this.caseMode !== "points" || c.lon === null || c.lat === null || c.lon === undefined) {
      this.refreshSoon();
      return;
    }
    const props: Props = {
      id: c.id,
      number: c.number,
      state: c.state,
      state_kind: stateKind(c.state),
      urgency: c.urgency,
      overdue: c.overdue,
      category: c.category?.name ?? "",
    };
    const at = this.toMap(Number(c.lon), Number(c.lat));
    let marker = this.caseMarkers.get(Number(c.id));
    if (marker) {
      marker.setLatLng(at);
      marker.setStyle(this.caseStyle(props));
    } else if (this.map.getBounds().contains(at)) {
      marker = L.circleMarker(at, this.caseStyle(props));
      marker.on("click", () => void this.showCase(Number(c.id)));
      this.caseMarkers.set(Number(c.id), marker);
      this.layers.cases.addLayer(marker);
      this.counts.cases = (this.counts.cases ?? 0) + 1;
    }
    marker?.bindTooltip(`${c.number} ${c.category?.name ?? ""} · ${c.state_label || c.state}`);
    const node = marker?.getElement() as HTMLElement | SVGElement | undefined;
    if (node) node.dataset.case = String(c.number);
    this.showStatus();
    this.gridsSoon();
  }

  readonly gridsSoon = debounce(() => void this.load("grids"), 1500);
  readonly refreshSoon = debounce(() => void this.load("cases"), 1000);

  onUnit(u: NonNullable<FeedMessage["unit"]>): void {
    void u;
    if (this.enabled("units")) void this.load("units");
  }
}

const STATE_KINDS: Record<string, string> = {
  reported: "open",
  filed: "open",
  dispatched: "in_progress",
  in_progress: "in_progress",
  handled: "resolved",
  closed: "closed",
  rejected: "closed",
  merged: "closed",
};

function droneIcon(heading: number | null | undefined): L.DivIcon {
  const turn = Number.isFinite(heading) ? Number(heading) : 0;
  return L.divIcon({ className: "onemap-drone", html: `<span style="transform: rotate(${turn}deg)">▲</span>`, iconSize: [20, 20] });
}

function stateKind(state: string): string {
  return STATE_KINDS[state] ?? "open";
}

function startSearch(m: OneMap): void {
  const input = document.getElementById("onemap-search") as HTMLInputElement | null;
  const list = document.getElementById("onemap-results");
  if (!input || !list) return;
  let pin: L.Marker | null = null;
  const run = debounce(async () => {
    const q = input.value.trim();
    list.replaceChildren();
    list.hidden = !q;
    if (!q) return;
    const results = await m.fetchJson<{ kind: string; label: string; lon: number | null; lat: number | null; url: string }[]>(
      `${m.config.api.search}?${new URLSearchParams({ q })}`,
    );
    for (const r of results ?? []) {
      const li = el("li", `onemap-result onemap-result-${r.kind}`);
      const a = el("a", "", r.label);
      a.href = r.url;
      a.dataset.kind = r.kind;
      a.addEventListener("click", (e) => {
        if (r.lon === null || r.lat === null) return; // no place: follow the link
        e.preventDefault();
        const at = m.toMap(r.lon, r.lat);
        m.map.setView(at, Math.max(m.map.getZoom(), 17));
        pin?.remove();
        pin = L.marker(at).addTo(m.map).bindPopup(`<a href="${r.url}">${escapeHtml(r.label)}</a>`).openPopup();
      });
      li.append(a);
      list.append(li);
    }
    if (!results?.length) list.append(el("li", "muted", m.config.strings.no_results));
  }, 300);
  input.addEventListener("input", run);
  input.addEventListener("keydown", (e) => {
    if (e.key === "Enter") e.preventDefault();
  });
}

function escapeHtml(text: string): string {
  const div = document.createElement("div");
  div.textContent = text;
  return div.innerHTML;
}

function start(): void {
  const root = document.getElementById("onemap");
  const source = document.getElementById("onemap-config");
  if (!root || !source?.textContent) return;
  const config = JSON.parse(source.textContent) as Config;
  const m = new OneMap(root, config);
  (window as unknown as { shequOnemap: OneMap }).shequOnemap = m; // for the browser tests
  void m.loadAll();
  startSearch(m);
  document.querySelector(".onemap-close")?.addEventListener("click", () => {
    const section = document.getElementById("onemap-detail");
    if (section) section.hidden = true;
  });
  const panelEl = document.getElementById("feed-panel");
  const panel = panelEl ? mountFeedPanel(panelEl, { limit: 50 }) : null;
  const feedStatus = document.getElementById("feed-status");
  connectFeed({
    url: config.feed_url,
    onEvent: (msg) => {
      if (msg.type === "drones.position") {
        m.onDrone(msg.payload); // a moving marker, not a line in the panel every few seconds
        return;
      }
      panel?.push(msg);
      if (msg.case) m.onCase(msg.case);
      if (msg.unit) m.onUnit(msg.unit);
    },
    onStatus: (s) => {
      if (feedStatus) {
        feedStatus.textContent = s === "live" ? "●" : "○";
        feedStatus.dataset.status = s;
      }
    },
  });
}

if (document.readyState === "loading") {
  document.addEventListener("DOMContentLoaded", start);
} else {
  start();
}
