// Entry point of the pages' script.
import htmx from "htmx.org";
import { connectFeed } from "./feed";
import { watchJobs } from "./jobs";
import { drawMaps } from "./map";
import { startReport } from "./report";

// A refused act (403, 409, 422) answers with the case panel and the message in it: swap it in, as
// the page without JavaScript shows it. Other errors are left to the browser.
htmx.config.responseHandling = [
  { code: "204", swap: false },
  { code: "^(2..|3..|403|409|422)$", swap: true },
  { code: "[45]..", swap: false, error: true },
];

// Parts of a page marked data-live="<event type>" (an inbox, a list) refresh themselves through
// HTMX (hx-trigger "live") when the live feed brings an event of that type: a new instruction
// shows at once, not at the next poll. One feed connection per page, only where such parts are.
function startLive(): void {
  if (!document.querySelector("[data-live]")) return;
  connectFeed({
    onEvent: (m) => {
      document.querySelectorAll<HTMLElement>("[data-live]").forEach((el) => {
        if (el.dataset.live === m.type) htmx.trigger(el, "live");
      });
    },
    onReset: () => undefined, // the poll reloads the rows anyway
  });
}

function start(): void {
  startLive();
  drawMaps();
  watchJobs();
  startReport();
  // Content that HTMX swaps in may hold maps of its own.
  document.body.addEventListener("htmx:afterSettle", (e) => drawMaps(e.target as ParentNode));
}

if (document.readyState === "loading") {
  document.addEventListener("DOMContentLoaded", start);
} else {
  start();
}
