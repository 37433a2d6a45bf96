// Entry point of the pages' script.
import { watchJobs } from "./jobs";
import { drawMaps } from "./map";

function start(): void {
  drawMaps();
  watchJobs();
}

if (document.readyState === "loading") {
  document.addEventListener("DOMContentLoaded", start);
} else {
  start();
}
