// The live feed (docs/live.md): server-sent events from /live/feed/, and a panel that lists them.
// EventSource reconnects by itself and resends the last event id (Last-Event-ID), so the server
// replays what was missed exactly once, in order; we keep the last seq only to drop a repeat.

export interface FeedCase {
  id: number;
  number: string;
  state: string;
  state_label: string;
  lon: number | null;
  lat: number | null;
  urgency: string;
  overdue: boolean;
  category: { id: number; code: string; name: string } | null;
  grid: string | null;
}

export interface FeedUnit {
  user_id: number;
  name: string;
  role: string;
  lon: number | null;
  lat: number | null;
  status: string;
  at: string;
}

export interface FeedMessage {
  seq: number;
  type: "cases.transitioned" | "cases.deadline" | "command.instruction" | "units.position" | string;
  at: string;
  title: string;
  urgent: boolean;
  payload: Record<string, unknown>;
  case: FeedCase | null;
  unit: FeedUnit | null;
}

export type FeedStatus = "live" | "reconnecting";

export function connectFeed(opts: {
  url?: string;
  onEvent: (m: FeedMessage) => void;
  onStatus?: (s: FeedStatus) => void;
  // Too much was missed to replay (the server sent `reset`): by default the page reloads.
  onReset?: () => void;
}): { close(): void } {
  const source = new EventSource(opts.url ?? "/live/feed/", { withCredentials: true });
  let lastSeq = 0;
  const status = (s: FeedStatus) => opts.onStatus?.(s);
  source.onopen = () => status("live");
  source.onerror = () => status("reconnecting"); // EventSource retries by itself
  source.addEventListener("feed", (e: MessageEvent<string>) => {
    let message: FeedMessage;
    try {
      message = JSON.parse(e.data) as FeedMessage;
    } catch {
      return;
    }
    if (message.seq <= lastSeq) return;
    lastSeq = message.seq;
    opts.onEvent(message);
  });
  source.addEventListener("reset", () => {
    if (opts.onReset) opts.onReset();
    else window.location.reload();
  });
  return {
    close() {
      source.close();
    },
  };
}

let audio: AudioContext | null = null;

// A short two-tone beep, made by WebAudio (no sound file). Browsers allow sound only after the
// user has interacted with the page; before that this stays silent.
export function beep(): void {
  try {
    audio ??= new AudioContext();
    const ctx = audio;
    if (ctx.state === "suspended") void ctx.resume();
    const gain = ctx.createGain();
    gain.connect(ctx.destination);
    gain.gain.setValueAtTime(0.0001, ctx.currentTime);
    gain.gain.exponentialRampToValueAtTime(0.2, ctx.currentTime + 0.02);
    gain.gain.exponentialRampToValueAtTime(0.0001, ctx.currentTime + 0.5);
    [880, 660].forEach((freq, i) => {
      const osc = ctx.createOscillator();
      osc.type = "sine";
      osc.frequency.value = freq;
      osc.connect(gain);
      osc.start(ctx.currentTime + i * 0.18);
      osc.stop(ctx.currentTime + i * 0.18 + 0.16);
    });
  } catch {
    // no audio device or API: the visual highlight remains
  }
}

function clock(iso: string): string {
  const m = /T(\d{2}:\d{2}:\d{2})/.exec(iso); // the server's time is already Asia/Shanghai
  return m ? m[1] : iso;
}

function text(tag: string, cls: string, value: string): HTMLElement {
  const el = document.createElement(tag);
  el.className = cls;
  el.textContent = value;
  return el;
}

// The panel: a status dot (live / reconnecting) and the messages, newest first, at most `limit`.
// Urgent ones are highlighted and beep. The panel connects by itself unless `connect` is false
// (then call push() with messages from a connectFeed of your own).
export function mountFeedPanel(
  el: HTMLElement,
  opts?: { limit?: number; url?: string; connect?: boolean; sound?: boolean },
): { push(m: FeedMessage): void; close(): void } {
  const limit = opts?.limit ?? 50;
  el.classList.add("feed-panel");
  el.replaceChildren();
  const head = document.createElement("div");
  head.className = "feed-head";
  const dot = document.createElement("span");
  dot.className = "feed-dot";
  const state = text("span", "feed-state", "连接中");
  head.append(dot, state, text("span", "feed-heading", "实时动态"));
  const list = document.createElement("ol");
  list.className = "feed-list";
  list.setAttribute("aria-live", "polite");
  el.append(head, list);

  const setStatus = (s: FeedStatus) => {
    dot.dataset.status = s;
    state.textContent = s === "live" ? "实时" : "重连中";
  };

  const push = (m: FeedMessage) => {
    const item = document.createElement("li");
    item.className = m.urgent ? "feed-item feed-urgent" : "feed-item";
    item.dataset.seq = String(m.seq);
    item.append(text("time", "feed-time", clock(m.at)));
    if (m.case) {
      const link = document.createElement("a");
      link.className = "feed-title";
      link.href = `/cases/${encodeURIComponent(m.case.number)}/`;
      link.textContent = m.title;
      item.append(link);
    } else {
      item.append(text("span", "feed-title", m.title));
    }
    list.prepend(item);
    while (list.children.length > limit) list.lastElementChild?.remove();
    if (m.urgent && opts?.sound !== false) beep();
  };

  let connection: { close(): void } | null = null;
  if (opts?.connect !== false) {
    connection = connectFeed({ url: opts?.url, onEvent: push, onStatus: setStatus });
  }
  return {
    push,
    close() {
      connection?.close();
    },
  };
}
