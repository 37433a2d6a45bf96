// The mobile duty page (/units/duty/): while the unit is on duty (or busy) with consent, the
// phone's position is watched and posted to /api/units/positions/ at most every few seconds, with
// the page's CSRF token. The server repeats every rule (consent, duty, throttle): a 409 (went off
// duty elsewhere, consent revoked) stops the watch and says why.

interface Fix {
  lon: number;
  lat: number;
  accuracy: number;
  at: number;
}

const SEND_EVERY_MS = 15000; // a walking unit moves ~20 m in 15 s: as often as the map needs
const MOVED_M = 20; // or sooner, when it moved this far

function metres(a: Fix, b: Fix): number {
  const r = 6371008.8;
  const rad = Math.PI / 180;
  const dlat = (b.lat - a.lat) * rad;
  const dlon = (b.lon - a.lon) * rad;
  const h =
    Math.sin(dlat / 2) ** 2 + Math.cos(a.lat * rad) * Math.cos(b.lat * rad) * Math.sin(dlon / 2) ** 2;
  return 2 * r * Math.asin(Math.sqrt(h));
}

function toFix(pos: GeolocationPosition): Fix {
  return {
    lon: pos.coords.longitude,
    lat: pos.coords.latitude,
    accuracy: pos.coords.accuracy,
    at: pos.timestamp || Date.now(),
  };
}

function csrfToken(): string {
  const input = document.querySelector<HTMLInputElement>("input[name=csrfmiddlewaretoken]");
  if (input?.value) return input.value;
  const match = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
  return match ? decodeURIComponent(match[1]) : "";
}

function hhmmss(ms: number): string {
  return new Date(ms).toLocaleTimeString("zh-CN", { hour12: false });
}

function start(panel: HTMLElement): void {
  const d = panel.dataset;
  const sentEl = panel.querySelector<HTMLElement>("[data-gps-sent]");
  const errorEl = panel.querySelector<HTMLElement>("[data-gps-error]");
  const stateEl = panel.querySelector<HTMLElement>("[data-gps-state]");
  const api = d.api ?? "/api/units/positions/";
  const minInterval = Math.max(Number(d.minInterval ?? "5"), 1) * 1000;
  let last: Fix | null = null;
  let inFlight = false;
  let watchId: number | null = null;

  const error = (text: string): void => {
    if (errorEl) errorEl.textContent = text;
  };
  const stop = (why: string): void => {
    if (watchId !== null) navigator.geolocation.clearWatch(watchId);
    watchId = null;
    if (stateEl) stateEl.textContent = d.msgStopped ?? "";
    error(why);
  };

  const send = async (fix: Fix): Promise<void> => {
    inFlight = true;
    try {
      const response = await fetch(api, {
        method: "POST",
        credentials: "same-origin",
        headers: { "Content-Type": "application/json", "X-CSRFToken": csrfToken() },
        body: JSON.stringify({
          lon: fix.lon,
          lat: fix.lat,
          accuracy_m: Math.min(Math.max(fix.accuracy, 0), 10000),
          at: new Date(fix.at).toISOString(),
        }),
      });
      const body = (await response.json().catch(() => ({}))) as { detail?: string; result?: string };
      if (response.status === 201 || response.status === 202) {
        last = fix;
        error("");
        if (sentEl) {
          const ignored = body.result === "ignored" ? ` (${d.msgIgnored ?? ""})` : "";
          sentEl.textContent =
            `${hhmmss(Date.now())} · ${d.msgAccuracy ?? ""} ${Math.round(fix.accuracy)} ${d.msgMeters ?? ""}` +
            ignored;
        }
      } else if (response.status === 409 || response.status === 403) {
        stop(body.detail ?? String(response.status)); // off duty or no consent: the server says which
      } else {
        error(body.detail ?? `${d.msgNetwork ?? ""} (${response.status})`);
      }
    } catch {
      error(d.msgNetwork ?? "");
    } finally {
      inFlight = false;
    }
  };

  const consider = (fix: Fix): void => {
    if (inFlight || watchId === null) return;
    const due =
      last === null ||
      fix.at - last.at >= SEND_EVERY_MS ||
      (fix.at - last.at >= minInterval && metres(last, fix) > MOVED_M);
    if (due) void send(fix);
  };

  if (!("geolocation" in navigator)) {
    error(d.msgNoGps ?? "");
    return;
  }
  if (sentEl && !last) sentEl.textContent = d.msgLocating ?? "";
  watchId = navigator.geolocation.watchPosition(
    (pos) => consider(toFix(pos)),
    (err) => {
      if (err.code === err.PERMISSION_DENIED) stop(d.msgDenied ?? "");
      else if (err.code === err.TIMEOUT) error(d.msgTimeout ?? "");
      else error(d.msgUnavailable ?? "");
    },
    { enableHighAccuracy: true, maximumAge: 10000, timeout: 30000 },
  );
  // A phone standing still may report no new fix for long: ask for one, so that the map knows the
  // unit is still there (the server publishes at most once a minute for it).
  window.setInterval(() => {
    if (watchId === null || inFlight) return;
    if (last !== null && Date.now() - last.at < SEND_EVERY_MS) return;
    navigator.geolocation.getCurrentPosition(
      (pos) => consider(toFix(pos)),
      () => undefined, // the watch reports errors
      { enableHighAccuracy: true, maximumAge: SEND_EVERY_MS, timeout: 30000 },
    );
  }, SEND_EVERY_MS);
}

function startDuty(): void {
  document.querySelectorAll<HTMLElement>("[data-duty]").forEach((panel) => {
    if (panel.dataset.sharing === "1") start(panel);
  });
}

if (document.readyState === "loading") {
  document.addEventListener("DOMContentLoaded", startDuty);
} else {
  startDuty();
}
