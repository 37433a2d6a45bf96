// The one map page (一张图): layers, filters, search, detail panel, live updates. See docs/onemap.md.
export {};
