// Small maps: each [data-map="<id>"] element draws the GeoJSON in <script id="<id>"> (json_script).
// Offline by default: no tile layer, only the community's own layers on a plain background.
// With MAP_TILES_URL set, tiles are added and drawn coordinates are converted to the tiles' datum.
import L from "leaflet";
import { toTilesCrs } from "./coords";

type Kind = "grid" | "building" | "road" | "point";

interface Props {
  kind?: Kind;
  label?: string;
  url?: string;
  selected?: boolean;
  road?: string;
}

const DEFAULT_CENTER: L.LatLngTuple = [36.5, 103.68]; // Lanzhou New Area, the model community

function styleFor(props: Props): L.PathOptions {
  switch (props.kind) {
    case "grid":
      return props.selected
        ? { className: "shequ-grid shequ-grid-selected", color: "#c2410c", weight: 3, fillColor: "#fb923c", fillOpacity: 0.08 }
        : { className: "shequ-grid", color: "#1d4ed8", weight: 2, fillColor: "#3b82f6", fillOpacity: 0.12 };
    case "building":
      return { className: "shequ-building", color: "#475569", weight: 1, fillColor: "#94a3b8", fillOpacity: 0.6 };
    case "road":
      return {
        className: "shequ-road",
        color: "#9ca3af",
        weight: props.road === "arterial" ? 5 : props.road === "secondary" ? 4 : 2,
        opacity: 0.9,
      };
    default:
      return props.selected
        ? { className: "shequ-point shequ-point-selected", color: "#b91c1c", weight: 2, fillColor: "#ef4444" }
        : { className: "shequ-point", color: "#0f766e", weight: 1 };
  }
}

// The map drawn in each element, for scripts that add to it (the report page's marker).
const drawn = new WeakMap<HTMLElement, L.Map>();

export function mapFor(el: HTMLElement): L.Map | undefined {
  return drawn.get(el);
}

export function drawMap(el: HTMLElement): L.Map | null {
  if (drawn.has(el)) return drawn.get(el) ?? null;
  const source = document.getElementById(el.dataset.map ?? "");
  if (!source?.textContent) return null;
  const data = JSON.parse(source.textContent) as GeoJSON.FeatureCollection;
  const tilesUrl = document.body.dataset.tilesUrl ?? "";
  const tilesCrs = document.body.dataset.tilesCrs ?? "wgs84";

  const map = L.map(el, { attributionControl: Boolean(tilesUrl), zoomSnap: 0.25, scrollWheelZoom: false });
  if (tilesUrl) {
    L.tileLayer(tilesUrl, { maxZoom: 19 }).addTo(map);
  } else {
    el.classList.add("map-offline");
  }
  const layer = L.geoJSON(data, {
    coordsToLatLng: (c) => {
      const [lon, lat] = tilesUrl ? toTilesCrs(c[0], c[1], tilesCrs) : [c[0], c[1]];
      return L.latLng(lat, lon);
    },
    style: (feature) => styleFor((feature?.properties ?? {}) as Props),
    pointToLayer: (feature, latlng) =>
      L.circleMarker(latlng, {
        ...styleFor((feature.properties ?? {}) as Props),
        radius: (feature.properties as Props | null)?.selected ? 8 : 4,
        fillOpacity: 0.8,
      }),
    onEachFeature: (feature, lyr) => {
      const props = (feature.properties ?? {}) as Props;
      if (props.label) lyr.bindTooltip(props.label, { sticky: true });
      if (props.url && props.kind !== "road") {
        lyr.on("click", () => {
          window.location.href = props.url as string;
        });
      }
    },
  }).addTo(map);
  // Features are drawn in the order given: the pages put roads first, then grids, then buildings.
  const bounds = layer.getBounds();
  if (bounds.isValid()) {
    map.fitBounds(bounds, { padding: [12, 12] });
  } else {
    map.setView(DEFAULT_CENTER, 12);
  }
  drawn.set(el, map);
  return map;
}

export function drawMaps(root: ParentNode = document): void {
  root.querySelectorAll<HTMLElement>("[data-map]").forEach((el) => {
    drawMap(el);
  });
}
