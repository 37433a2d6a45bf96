// The big screen (大屏): 1920×1080 dark dashboard of the command center. See docs/onemap.md.
export {};
