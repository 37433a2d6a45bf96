// The job page polls /api/jobs/<id>/ and moves the progress bar; when the job ends it reloads
// to show the server-rendered report. Where the API does not answer it falls back to reloading,
// which is also what <noscript> does without JavaScript.

interface JobState {
  status: string;
  done: number;
  total: number;
  percent: number;
  message?: string;
}

const POLL_MS = 1000;
const FINISHED = new Set(["succeeded", "failed"]);

function setText(root: HTMLElement, name: string, value: string): void {
  const el = root.querySelector<HTMLElement>(`[data-job-${name}]`);
  if (el) el.textContent = value;
}

async function poll(root: HTMLElement, url: string): Promise<void> {
  let state: JobState;
  try {
    const response = await fetch(url, { headers: { Accept: "application/json" }, credentials: "same-origin" });
    if (!response.ok) throw new Error(String(response.status));
    state = (await response.json()) as JobState;
  } catch {
    window.setTimeout(() => window.location.reload(), 2 * POLL_MS);
    return;
  }
  const bar = root.querySelector<HTMLElement>(".progress-bar");
  if (bar) bar.style.width = `${state.percent}%`;
  root.querySelector(".progress")?.setAttribute("aria-valuenow", String(state.percent));
  setText(root, "done", state.done.toLocaleString());
  setText(root, "total", state.total.toLocaleString());
  setText(root, "percent", String(state.percent));
  setText(root, "message", state.message ?? "");
  if (FINISHED.has(state.status)) {
    window.location.reload();
  } else {
    window.setTimeout(() => void poll(root, url), POLL_MS);
  }
}

export function watchJobs(): void {
  document.querySelectorAll<HTMLElement>("[data-job]").forEach((root) => {
    if (root.dataset.jobFinished !== "1" && root.dataset.job) void poll(root, root.dataset.job);
  });
}
