// The mobile report page (/cases/report/): the location from the browser's GPS (WGS-84), shown on
// the small map as a marker the reporter may drag or move by tapping; a double tap on submit sends
// one request (and the form's idempotency key makes even a resent one harmless on the server).
// Without JavaScript the page still works: the server then takes the location from the photo's
// EXIF, and failing that the report is filed without a point.
import L from "leaflet";
import { fromTilesCrs, toTilesCrs } from "./coords";
import { drawMap } from "./map";

const PIN = L.divIcon({ className: "report-pin", iconSize: [22, 22], iconAnchor: [11, 22] });

function tilesCrs(): string {
  // Drawn coordinates are in the tiles' datum only where tiles are shown (see map.ts).
  return document.body.dataset.tilesUrl ? (document.body.dataset.tilesCrs ?? "wgs84") : "wgs84";
}

function startForm(form: HTMLFormElement): void {
  const lon = form.querySelector<HTMLInputElement>("input[name=lon]");
  const lat = form.querySelector<HTMLInputElement>("input[name=lat]");
  const status = form.querySelector<HTMLElement>("[data-location-status]");
  const mapEl = form.querySelector<HTMLElement>("[data-map]");
  if (!lon || !lat) return;
  const map = mapEl ? drawMap(mapEl) : null;
  const crs = tilesCrs();
  let marker: L.Marker | null = null;

  const say = (text: string): void => {
    if (status) status.textContent = text;
  };
  const place = (wlon: number, wlat: number, how: string): void => {
    lon.value = wlon.toFixed(7);
    lat.value = wlat.toFixed(7);
    say(`${how} ${wlat.toFixed(6)}, ${wlon.toFixed(6)}`);
    if (!map) return;
    const [x, y] = toTilesCrs(wlon, wlat, crs);
    if (marker) {
      marker.setLatLng([y, x]);
    } else {
      marker = L.marker([y, x], { draggable: true, icon: PIN, keyboard: false }).addTo(map);
      marker.on("dragend", () => {
        const p = marker!.getLatLng();
        const [mlon, mlat] = fromTilesCrs(p.lng, p.lat, crs);
        place(mlon, mlat, form.dataset.msgMoved ?? "");
      });
    }
    map.setView([y, x], Math.max(map.getZoom(), 17));
  };

  map?.on("click", (e: L.LeafletMouseEvent) => {
    const [mlon, mlat] = fromTilesCrs(e.latlng.lng, e.latlng.lat, crs);
    place(mlon, mlat, form.dataset.msgMoved ?? "");
  });

  const locate = (): void => {
    if (!("geolocation" in navigator)) {
      say(form.dataset.msgNoGps ?? "");
      return;
    }
    say(form.dataset.msgLocating ?? "");
    navigator.geolocation.getCurrentPosition(
      (pos) => place(pos.coords.longitude, pos.coords.latitude, form.dataset.msgGps ?? ""),
      () => say(form.dataset.msgNoGps ?? ""),
      { enableHighAccuracy: true, timeout: 15000, maximumAge: 60000 },
    );
  };
  form.querySelector("[data-locate]")?.addEventListener("click", locate);

  if (lon.value && lat.value) {
    place(Number(lon.value), Number(lat.value), form.dataset.msgGps ?? "");
  } else {
    locate();
  }

  // One request per tap: the buttons are disabled once the form is sent. The button pressed is
  // carried in a hidden input, since a disabled button is not submitted.
  form.addEventListener("submit", (e) => {
    const button = (e as SubmitEvent).submitter as HTMLButtonElement | null;
    if (form.dataset.sent === "1") {
      e.preventDefault();
      return;
    }
    form.dataset.sent = "1";
    if (button?.name) {
      const carry = document.createElement("input");
      carry.type = "hidden";
      carry.name = button.name;
      carry.value = button.value;
      form.appendChild(carry);
    }
    form.querySelectorAll<HTMLButtonElement>("button[type=submit]").forEach((b) => {
      b.disabled = true;
    });
  });
}

export function startReport(): void {
  document.querySelectorAll<HTMLFormElement>("form[data-report]").forEach(startForm);
}
