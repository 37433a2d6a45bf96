// The video pages (/video/...; docs/pages.md "Video"): the wall's images refresh every few seconds
// (only the tiles on screen, only while the tab is visible), the camera page's live view each
// second, the zone and rule editor (video-editor.ts), and the alert queue's keys (j/k, c, d, o).
// HTMX comes from app.js: here we only click its buttons and listen to its DOM events.
import { mountEditor } from "./video-editor";

const WALL_EVERY_MS = 5000;
const LIVE_EVERY_MS = 1000;
const EMPTY_RETRY_MS = 5000;

// Load `url` into a detached image first and swap it in when complete: no flicker, and a failed
// load (the camera went offline) leaves the last frame in place, marked stale.
function reload(img: HTMLImageElement, url: string, done?: () => void): void {
  const next = new Image();
  next.onload = () => {
    img.src = next.src;
    img.classList.remove("video-stale");
    done?.();
  };
  next.onerror = () => {
    img.classList.add("video-stale");
    done?.();
  };
  next.src = url;
}

function withStamp(src: string): string {
  const url = new URL(src, window.location.href);
  url.searchParams.set("t", String(Date.now()));
  return url.pathname + url.search;
}

// --- the wall ------------------------------------------------------------------------------------

function startWall(): void {
  if (!document.querySelector("[data-video-wall]")) return;
  const visible = new Set<HTMLImageElement>();
  const observer = new IntersectionObserver((entries) => {
    for (const e of entries) {
      const img = e.target as HTMLImageElement;
      if (e.isIntersecting) visible.add(img);
      else visible.delete(img);
    }
  });
  const watch = (root: ParentNode) => {
    root.querySelectorAll<HTMLImageElement>("img[data-refresh]").forEach((img) => observer.observe(img));
  };
  watch(document);
  // The tiles are swapped by HTMX every 30 s (statuses): watch the new images, forget the old.
  document.body.addEventListener("htmx:afterSettle", () => {
    for (const img of [...visible]) if (!img.isConnected) visible.delete(img);
    watch(document);
  });
  window.setInterval(() => {
    if (document.hidden) return;
    for (const img of visible) {
      if (img.dataset.loading) continue;
      img.dataset.loading = "1";
      reload(img, withStamp(img.src), () => delete img.dataset.loading);
    }
  }, WALL_EVERY_MS);
}

// --- the camera's live view ----------------------------------------------------------------------

function startLive(): void {
  const img = document.querySelector<HTMLImageElement>("img[data-live-view]");
  if (img) {
    let busy = false;
    window.setInterval(() => {
      if (document.hidden || busy) return;
      busy = true;
      reload(img, withStamp(img.src), () => (busy = false));
    }, LIVE_EVERY_MS);
    return;
  }
  // No frame yet: look again now and then, and show the first one that comes.
  const empty = document.querySelector<HTMLElement>("[data-live-view-empty]");
  if (!empty) return;
  const url = empty.dataset.liveViewEmpty ?? "";
  const timer = window.setInterval(() => {
    if (document.hidden) return;
    const probe = new Image();
    probe.onload = () => {
      window.clearInterval(timer);
      const live = document.createElement("img");
      live.id = "video-live";
      live.dataset.liveView = "";
      live.src = probe.src;
      empty.replaceWith(live);
      startLive();
    };
    probe.src = withStamp(url);
  }, EMPTY_RETRY_MS);
}

// --- the alert queue: keys -----------------------------------------------------------------------

function startQueue(): void {
  if (!document.querySelector("[data-alert-queue]")) return;
  let current: string | null = null;
  const cards = () => [...document.querySelectorAll<HTMLElement>("[data-alert]")];
  const select = (card: HTMLElement | undefined, focus = true) => {
    if (!card) return;
    cards().forEach((c) => c.classList.toggle("selected", c === card));
    current = card.dataset.alert ?? null;
    card.scrollIntoView({ block: "nearest" });
    if (focus) card.focus({ preventScroll: true });
  };
  const selected = () => cards().find((c) => c.dataset.alert === current);
  // A swapped card (an act answered, the list refreshed by the feed) keeps the selection.
  document.body.addEventListener("htmx:afterSettle", () => {
    const card = selected() ?? cards()[0];
    if (card) select(card, !isTyping(document.activeElement));
  });
  select(cards()[0], false);

  document.addEventListener("keydown", (e: KeyboardEvent) => {
    if (e.ctrlKey || e.metaKey || e.altKey) return;
    if (isTyping(e.target)) {
      if (e.key === "Escape") (e.target as HTMLElement).blur();
      return;
    }
    const list = cards();
    const card = selected();
    const index = card ? list.indexOf(card) : -1;
    switch (e.key) {
      case "j":
        select(list[Math.min(index + 1, list.length - 1)]);
        break;
      case "k":
        select(list[Math.max(index - 1, 0)]);
        break;
      case "c":
        card?.querySelector<HTMLButtonElement>("form[data-act=confirm] button[type=submit]")?.click();
        break;
      case "d":
        card?.querySelector<HTMLInputElement>("form[data-act=dismiss] input[name=reason]")?.focus();
        break;
      case "o": {
        const link = card?.querySelector<HTMLAnchorElement>("a[data-open-case]");
        if (link) window.location.href = link.href;
        break;
      }
      default:
        return;
    }
    e.preventDefault();
  });
}

function isTyping(target: EventTarget | Element | null): boolean {
  return (
    target instanceof HTMLInputElement ||
    target instanceof HTMLTextAreaElement ||
    target instanceof HTMLSelectElement ||
    (target instanceof HTMLElement && target.isContentEditable)
  );
}

function start(): void {
  startWall();
  startLive();
  startQueue();
  const editor = document.getElementById("video-editor");
  if (editor) mountEditor(editor);
}

if (document.readyState === "loading") {
  document.addEventListener("DOMContentLoaded", start);
} else {
  start();
}
