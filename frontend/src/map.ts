import L from "leaflet";

// Placeholder until the page helper lands the real small-map module.
document.querySelectorAll<HTMLElement>("[data-map]").forEach((el) => {
  L.map(el).setView([36.5, 103.68], 13);
});
