// Entry point of the pages' script.
import htmx from "htmx.org";
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

function start(): void {
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
