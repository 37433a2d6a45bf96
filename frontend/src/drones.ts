// The drone pages (/drones/...; docs/pages.md "Drones"): the map of a mission (grids, ground
// coverage, route and waypoints), the plan form's live preview and waypoints drawn by clicking,
// and a flight's track moving live (the live feed's drones.position moves the marker at once; the
// page also asks for the new track points every few seconds, so the line is whole even when the
// feed is away). The findings queue uses video.js (the same keys as the camera alert queue).
//
// Coordinates from the server are WGS-84; with tiles in GCJ-02 they are converted before drawing
// and clicks converted back (coords.ts), as on the one map.
import L from "leaflet";
import { fromTilesCrs, toTilesCrs } from "./coords";
import { connectFeed } from "./feed";

type Props = Record<string, unknown>;
type FC = GeoJSON.FeatureCollection<GeoJSON.Geometry, Props>;
type TrackPoint = [number, number, number | null, string];

interface MapConfig {
  features: FC;
  // the plan form
  preview_url?: string;
  drones?: Record<string, { code: string; dock: number | null }>;
  strings?: Record<string, string>;
  // a flight
  track?: TrackPoint[];
  flying?: boolean;
  drone_id?: number;
  flight_id?: number;
  drone?: { lon: number | null; lat: number | null; heading: number | null } | null;
  track_url?: string;
  feed_url?: string;
}

const DEFAULT_CENTER: L.LatLngTuple = [36.5, 103.68]; // Lanzhou New Area, the model community
const POLL_MS = 5000;
const PREVIEW_DEBOUNCE_MS = 400;

function style(p: Props): L.PathOptions {
  switch (p.kind) {
    case "grid":
      return p.selected
        ? { className: "drones-grid drones-grid-selected", color: "#c2410c", weight: 3, fillColor: "#fb923c", fillOpacity: 0.12 }
        : { className: "drones-grid", color: "#1d4ed8", weight: 2, fillColor: "#3b82f6", fillOpacity: 0.06 };
    case "coverage":
      return { className: "drones-coverage", color: "#15803d", weight: 1, fillColor: "#22c55e", fillOpacity: 0.25 };
    case "route":
      return { className: "drones-route", color: "#ea580c", weight: 2.5, opacity: 0.95 };
    case "footprint":
      return { className: "drones-footprint", color: "#475569", weight: 1, fillColor: "#94a3b8", fillOpacity: 0.08 };
    case "track":
      return { className: "drones-track", color: "#dc2626", weight: 3, opacity: 0.9 };
    case "waypoint":
      return { className: "drones-waypoint", color: "#9a3412", weight: 1, fillColor: "#fdba74", fillOpacity: 1 };
    case "finding": {
      const colour = p.state === "confirmed" ? "#16a34a" : p.state === "dismissed" ? "#94a3b8" : "#f59e0b";
      return { className: "drones-finding-point", color: "#111827", weight: 1, fillColor: colour, fillOpacity: 0.95 };
    }
    default:
      return { className: "drones-point", color: "#0f766e", weight: 1 };
  }
}

class DroneMap {
  readonly map: L.Map;
  readonly tilesUrl = document.body.dataset.tilesUrl ?? "";
  readonly tilesCrs = document.body.dataset.tilesCrs ?? "wgs84";
  readonly base: L.GeoJSON;

  constructor(
    readonly root: HTMLElement,
    readonly config: MapConfig,
  ) {
    this.map = L.map(root, { attributionControl: Boolean(this.tilesUrl), zoomSnap: 0.25, preferCanvas: false });
    if (this.tilesUrl) L.tileLayer(this.tilesUrl, { maxZoom: 19 }).addTo(this.map);
    else root.classList.add("map-offline");
    this.base = this.geo(config.features).addTo(this.map);
    this.fit(this.base.getBounds());
  }

  toMap(lon: number, lat: number): L.LatLng {
    const [x, y] = this.tilesUrl ? toTilesCrs(lon, lat, this.tilesCrs) : [lon, lat];
    return L.latLng(y, x);
  }

  fromMap(at: L.LatLng): [number, number] {
    return this.tilesUrl ? fromTilesCrs(at.lng, at.lat, this.tilesCrs) : [at.lng, at.lat];
  }

  fit(bounds: L.LatLngBounds): void {
    if (bounds.isValid()) this.map.fitBounds(bounds, { padding: [16, 16] });
    else this.map.setView(DEFAULT_CENTER, 14);
  }

  geo(data: FC, onGrid?: (p: Props, layer: L.Path) => void): L.GeoJSON {
    return L.geoJSON(data, {
      coordsToLatLng: (c) => this.toMap(c[0], c[1]),
      style: (f) => style((f?.properties ?? {}) as Props),
      // The style (and so the SVG class) comes from `style`: L.geoJSON applies it to markers too.
      pointToLayer: (f, at) => {
        const p = (f.properties ?? {}) as Props;
        return L.circleMarker(at, { radius: p.kind === "waypoint" ? 4 : p.kind === "finding" ? 6 : 5 });
      },
      onEachFeature: (f, layer) => {
        const p = (f.properties ?? {}) as Props;
        if (p.kind === "waypoint") layer.bindTooltip(`#${p.n}${p.alt != null ? ` · ${Math.round(Number(p.alt))} m` : ""}`);
        else if (p.label) layer.bindTooltip(String(p.label), { sticky: true });
        if (p.kind === "grid" && onGrid) onGrid(p, layer as L.Path);
      },
    });
  }
}

// --- the plan form: live preview, waypoints drawn by clicking -------------------------------------

function csrfToken(form: HTMLFormElement): string {
  return (form.querySelector<HTMLInputElement>("input[name=csrfmiddlewaretoken]")?.value ?? "").trim();
}

function startPlan(dm: DroneMap): void {
  const form = document.getElementById("plan-form") as HTMLFormElement | null;
  if (!form || !dm.config.preview_url) return;
  const s = dm.config.strings ?? {};
  const status = document.getElementById("plan-status");
  const hint = document.getElementById("plan-hint");
  const hidden = form.querySelector<HTMLInputElement>("input[name=waypoints]");
  const gridSelect = form.querySelector<HTMLSelectElement>("select[name=grids]");
  const preview = L.layerGroup().addTo(dm.map);
  const drawn = L.layerGroup().addTo(dm.map);
  let points: [number, number][] = [];
  try {
    const old = JSON.parse(hidden?.value || "[]") as number[][];
    points = old.map((p) => [p[0], p[1]]);
  } catch {
    points = [];
  }
  const pattern = () => (form.querySelector<HTMLSelectElement>("select[name=pattern]")?.value ?? "survey");

  // A grid clicked on the map is (de)selected in the form's list.
  dm.base.eachLayer((layer) => {
    const f = (layer as L.GeoJSON).feature as GeoJSON.Feature | undefined;
    const p = (f?.properties ?? {}) as Props;
    if (p.kind !== "grid" || !gridSelect) return;
    const option = [...gridSelect.options].find((o) => o.value === String(p.id));
    const paint = () => (layer as L.Path).setStyle(style({ kind: "grid", selected: option?.selected }));
    paint();
    gridSelect.addEventListener("change", paint);
    layer.on("click", () => {
      if (pattern() === "waypoints" || !option) return;
      option.selected = !option.selected;
      paint();
      gridSelect.dispatchEvent(new Event("change", { bubbles: true }));
    });
  });

  const drawPoints = () => {
    drawn.clearLayers();
    if (hidden) hidden.value = points.length ? JSON.stringify(points.map(([lon, lat]) => [round(lon), round(lat)])) : "";
    const line = points.map(([lon, lat]) => dm.toMap(lon, lat));
    if (line.length > 1) L.polyline(line, { ...style({ kind: "route" }), dashArray: "6 4" }).addTo(drawn);
    line.forEach((at, i) =>
      L.circleMarker(at, { className: "drones-drawn", radius: 5, color: "#9a3412", fillColor: "#fff", fillOpacity: 1, weight: 2 })
        .bindTooltip(`#${i + 1}`)
        .addTo(drawn),
    );
  };
  const showHint = () => {
    if (hint) hint.textContent = pattern() === "waypoints" ? (s.click_to_add ?? "") : "";
  };
  dm.map.on("click", (e: L.LeafletMouseEvent) => {
    if (pattern() !== "waypoints") return;
    points.push(dm.fromMap(e.latlng));
    drawPoints();
    schedule();
  });
  dm.map.on("contextmenu", () => {
    if (pattern() !== "waypoints" || !points.length) return;
    points.pop();
    drawPoints();
    schedule();
  });

  // The preview API names grids and drones by their codes; the form's options by their ids.
  const gridCodes = new Map<string, string>();
  for (const f of dm.config.features.features) {
    if (f.properties.kind === "grid") gridCodes.set(String(f.properties.id), String(f.properties.code));
  }
  const drones = dm.config.drones ?? {};

  let seq = 0;
  const run = async () => {
    const mine = ++seq;
    const data = new FormData(form);
    const body: Record<string, unknown> = {
      pattern: pattern(),
      grids: data.getAll("grids").map((id) => gridCodes.get(String(id)) ?? String(id)),
      drone: drones[String(data.get("drone") ?? "")]?.code ?? null,
      altitude_m: num(data.get("altitude_m")),
      front_overlap: pct(data.get("front_overlap")),
      side_overlap: pct(data.get("side_overlap")),
      angle_deg: num(data.get("angle_deg")),
      speed_m_s: num(data.get("speed_m_s")),
    };
    if (pattern() === "waypoints") {
      if (points.length < 2) return;
      body.waypoints = points.map(([lon, lat]) => (body.altitude_m === null ? [lon, lat] : [lon, lat, body.altitude_m]));
    } else if (!(body.grids as string[]).length) {
      return;
    }
    if (status) status.textContent = s.previewing ?? "…";
    let answer: Response;
    try {
      answer = await fetch(dm.config.preview_url as string, {
        method: "POST",
        credentials: "same-origin",
        headers: { "Content-Type": "application/json", Accept: "application/json", "X-CSRFToken": csrfToken(form) },
        body: JSON.stringify(body),
      });
    } catch {
      if (mine === seq && status) status.textContent = s.preview_failed ?? "";
      return;
    }
    if (mine !== seq) return; // a newer preview was asked for meanwhile
    const result = (await answer.json().catch(() => null)) as Props | null;
    preview.clearLayers();
    if (!answer.ok || !result) {
      const message = result && typeof result.message === "string" ? result.message : "";
      const errors = result && Array.isArray(result.errors) ? (result.errors as { message?: string }[]) : [];
      if (status) status.textContent = `${s.preview_failed ?? ""} ${errors.map((e) => e.message ?? "").join(" ") || message}`;
      return;
    }
    drawPreview(dm, preview, result);
    setFigures({ ...((result.summary as Props | undefined) ?? {}), route: result.route }, s);
    if (status) status.textContent = "";
    status?.setAttribute("data-previewed", String(mine));
  };
  const schedule = debounce(() => void run(), PREVIEW_DEBOUNCE_MS);
  form.addEventListener("change", (e) => {
    if ((e.target as HTMLElement).getAttribute("name") === "pattern") showHint();
    schedule();
  });
  form.addEventListener("input", schedule);
  drawPoints();
  showHint();
  schedule();
}

/** The preview's route and coverage: GeoJSON geometries (`route` a LineString or [lon, lat, alt]
 *  waypoints, `coverage` any geometry), as the preview endpoint answers them. */
function drawPreview(dm: DroneMap, layer: L.LayerGroup, result: Props): void {
  const features: GeoJSON.Feature[] = [];
  const coverage = result.coverage as GeoJSON.Geometry | null | undefined;
  if (coverage && typeof coverage === "object") features.push({ type: "Feature", geometry: coverage, properties: { kind: "coverage" } });
  const route = (result.route ?? result.waypoints) as unknown;
  let line: number[][] = [];
  if (Array.isArray(route)) line = (route as number[][]).map((p) => [p[0], p[1]]);
  else if (route && typeof route === "object" && (route as GeoJSON.LineString).type === "LineString") line = (route as GeoJSON.LineString).coordinates;
  if (line.length > 1) features.push({ type: "Feature", geometry: { type: "LineString", coordinates: line }, properties: { kind: "route" } });
  for (const [i, p] of line.entries()) features.push({ type: "Feature", geometry: { type: "Point", coordinates: p }, properties: { kind: "waypoint", n: i + 1 } });
  const drawn = dm.geo({ type: "FeatureCollection", features } as FC);
  layer.addLayer(drawn);
}

function setFigures(r: Props, s: Record<string, string>): void {
  const put = (name: string, text: string) => {
    const el = document.querySelector<HTMLElement>(`[data-preview=${name}]`);
    if (el) el.textContent = text;
  };
  const length = Number(r.length_m ?? NaN);
  const seconds = Number(r.duration_s ?? NaN);
  const waypoints = r.waypoints;
  put("length", Number.isFinite(length) ? `${(length / 1000).toFixed(2)} km` : "—");
  put("minutes", Number.isFinite(seconds) ? `${(seconds / 60).toFixed(1)} ${s.minutes ?? ""}` : "—");
  put("photos", r.photo_count != null ? String(r.photo_count) : "—");
  put("waypoints", typeof waypoints === "number" ? String(waypoints) : "—");
}

// --- a flight: the track, moving live --------------------------------------------------------------

function droneIcon(heading: number | null | undefined): L.DivIcon {
  const turn = Number.isFinite(heading) ? Number(heading) : 0;
  return L.divIcon({
    className: "drones-marker",
    html: `<span style="transform: rotate(${turn}deg)">▲</span>`,
    iconSize: [22, 22],
  });
}

function startFlight(dm: DroneMap): void {
  const c = dm.config;
  const track = (c.track ?? []).slice();
  const line = L.polyline(
    track.map((p) => dm.toMap(p[0], p[1])),
    style({ kind: "track" }),
  ).addTo(dm.map);
  if (track.length > 1) dm.fit(line.getBounds().extend(dm.base.getBounds()));
  let marker: L.Marker | null = null;
  const moveTo = (lon: number, lat: number, heading?: number | null) => {
    const at = dm.toMap(lon, lat);
    if (!marker) marker = L.marker(at, { icon: droneIcon(heading), zIndexOffset: 1000 }).addTo(dm.map);
    else {
      marker.setLatLng(at);
      marker.setIcon(droneIcon(heading));
    }
    const node = marker.getElement();
    if (node) {
      node.dataset.lon = lon.toFixed(7);
      node.dataset.lat = lat.toFixed(7);
    }
    dm.root.dataset.droneLon = lon.toFixed(7);
    dm.root.dataset.droneLat = lat.toFixed(7);
  };
  const last = track[track.length - 1];
  if (c.drone && c.drone.lon != null && c.drone.lat != null) moveTo(c.drone.lon, c.drone.lat, c.drone.heading);
  else if (last) moveTo(last[0], last[1]);
  if (!c.flying) return;

  let lastAt = last ? last[3] : "";
  const append = (points: TrackPoint[]) => {
    for (const p of points) {
      if (lastAt && p[3] <= lastAt) continue;
      line.addLatLng(dm.toMap(p[0], p[1]));
      lastAt = p[3];
    }
  };
  connectFeed({
    url: c.feed_url,
    onEvent: (m) => {
      if (m.type !== "drones.position") return;
      const p = m.payload as { drone_id?: number; lon?: number; lat?: number; heading?: number | null };
      if (p.drone_id !== c.drone_id || typeof p.lon !== "number" || typeof p.lat !== "number") return;
      moveTo(p.lon, p.lat, p.heading);
      line.addLatLng(dm.toMap(p.lon, p.lat));
    },
    onReset: () => undefined, // the poll below fills the track
  });
  const poll = async () => {
    if (document.hidden || !c.track_url) return;
    const url = lastAt ? `${c.track_url}?${new URLSearchParams({ after: lastAt })}` : c.track_url;
    const answer = await fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } }).catch(() => null);
    if (!answer?.ok) return;
    const data = (await answer.json()) as {
      state: string;
      state_label: string;
      distance_m: number;
      drone: { lon: number | null; lat: number | null; heading: number | null };
      track: TrackPoint[];
    };
    append(data.track);
    if (data.drone.lon != null && data.drone.lat != null) moveTo(data.drone.lon, data.drone.lat, data.drone.heading);
    const state = document.getElementById("flight-state");
    if (state) {
      state.textContent = data.state_label;
      state.className = `badge badge-flight-${data.state}`;
    }
    const distance = document.getElementById("flight-distance");
    if (distance) distance.textContent = `${Math.round(data.distance_m).toLocaleString()} m`;
    if (data.state !== "flying") {
      window.clearInterval(timer);
      document.getElementById("flight-live")?.remove();
    }
  };
  const timer = window.setInterval(() => void poll(), POLL_MS);
}

// --- helpers ---------------------------------------------------------------------------------------

function debounce(fn: () => void, ms: number): () => void {
  let timer = 0;
  return () => {
    window.clearTimeout(timer);
    timer = window.setTimeout(fn, ms);
  };
}

function num(v: FormDataEntryValue | null): number | null {
  if (typeof v !== "string" || v.trim() === "") return null;
  const n = Number(v);
  return Number.isFinite(n) ? n : null;
}

function pct(v: FormDataEntryValue | null): number | null {
  const n = num(v);
  return n === null ? null : n / 100;
}

function round(v: number): number {
  return Math.round(v * 1e7) / 1e7;
}

function start(): void {
  const root = document.getElementById("drones-map");
  const source = document.getElementById("drones-map-data");
  if (!root || !source?.textContent) return;
  const dm = new DroneMap(root, JSON.parse(source.textContent) as MapConfig);
  (window as unknown as { shequDronesMap: DroneMap }).shequDronesMap = dm; // for the browser tests
  const mode = root.dataset.dronesMap;
  if (mode === "plan") startPlan(dm);
  if (mode === "flight") startFlight(dm);
}

if (document.readyState === "loading") {
  document.addEventListener("DOMContentLoaded", start);
} else {
  start();
}
