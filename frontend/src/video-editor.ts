// The zone and rule editor of the camera page. Zones are polygons drawn on the snapshot: click to
// add points (a click on an empty spot starts a new zone), double-click or Enter to close, Escape
// to cancel; drag a point of the selected zone to move it, Delete removes the selected zone (and
// its rules). Points are stored as image fractions (0..1, x right, y down), so a zone fits every
// resolution of the camera. Rules get their fields from the server's spec (types, defaults, bounds
// from the engine's models); saving posts the whole settings as JSON, and the server's per-field
// errors ({field: "rules.0.min_people", message}) are shown next to their fields.

type Point = [number, number];
interface Zone {
  id: string;
  name: string;
  polygon: Point[];
}
interface Window {
  days: number[];
  start: string;
  end: string;
}
type Rule = Record<string, unknown> & { id: string; kind: string; zone: string; schedule?: Window[] };
type Analytics = Record<string, unknown> & { zones?: Zone[]; rules?: Rule[]; sample_fps?: number };
interface FieldSpec {
  name: string;
  label: string;
  type: string;
  default?: unknown;
  minimum?: number;
  maximum?: number;
}
interface Spec {
  analytics: Analytics;
  save_url: string;
  snapshot_url: string;
  kinds: Record<string, { label: string; fields: FieldSpec[] }>;
  common: FieldSpec[];
  labels: Record<string, string>;
  strings?: Record<string, string>; // the page's language (forms.EDITOR_STRINGS); Chinese without it
}
interface FieldError {
  field: string;
  message: string;
}

const SVG = "http://www.w3.org/2000/svg";
const SAME_POINT = 0.006; // a second click this close to the last point (a double-click) adds none

function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs: Record<string, string> = {},
  ...children: (Node | string)[]
): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") el.className = v;
    else el.setAttribute(k, v);
  }
  el.append(...children);
  return el;
}

function svg(tag: string, attrs: Record<string, string>): SVGElement {
  const el = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, v);
  return el;
}

function csrfToken(): string {
  const input = document.querySelector<HTMLInputElement>("input[name=csrfmiddlewaretoken]");
  if (input?.value) return input.value;
  const match = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
  return match ? decodeURIComponent(match[1]) : "";
}

function round(v: number): number {
  return Math.round(Math.min(Math.max(v, 0), 1) * 10000) / 10000;
}

function uniqueId(prefix: string, taken: string[]): string {
  for (let i = 1; ; i++) if (!taken.includes(`${prefix}-${i}`)) return `${prefix}-${i}`;
}

function parseValue(spec: FieldSpec, input: HTMLInputElement): unknown {
  if (spec.type === "boolean") return input.checked;
  if (spec.type === "classes")
    return input.value
      .split(/[,，]/)
      .map((s) => s.trim())
      .filter(Boolean);
  if (spec.type === "number" || spec.type === "integer") {
    if (input.value.trim() === "") return null; // the server says 必填 / 应为数字
    const n = Number(input.value);
    return Number.isNaN(n) ? input.value : n;
  }
  return input.value;
}

export function mountEditor(root: HTMLElement): void {
  const configEl = document.getElementById("video-editor-config");
  if (!configEl) return;
  const spec = JSON.parse(configEl.textContent ?? "{}") as Spec;
  const tr = (key: string, fallback: string, n?: number | string): string =>
    (spec.strings?.[key] ?? fallback).replace(/%\((n|status)\)s/g, String(n ?? ""));
  const DAYS = tr("days", "一,二,三,四,五,六,日").split(",");
  const DAY_NAMES = tr("day_names", "周一,周二,周三,周四,周五,周六,周日").split(",");
  const editable = root.dataset.editable === "true";
  const analytics: Analytics = structuredClone(spec.analytics ?? {});
  analytics.zones ??= [];
  analytics.rules ??= [];
  const zones = analytics.zones;
  const rules = analytics.rules;
  let selected: number | null = null;
  let drawing: Point[] | null = null;
  let hover: Point | null = null;
  let drag: { zone: number; point: number } | null = null;

  // --- layout ---------------------------------------------------------------------------------
  const stage = h("div", { class: "video-stage", tabindex: "0" });
  const image = h("img", { class: "video-stage-img", alt: "", draggable: "false" });
  image.src = spec.snapshot_url;
  image.onerror = () => stage.classList.add("video-stage-empty"); // no frame yet: draw on a blank 16:9
  const overlay = svg("svg", { class: "video-overlay", viewBox: "0 0 1000 1000", preserveAspectRatio: "none" });
  const labels = h("div", { class: "video-zone-labels" }); // HTML text: the SVG is stretched to the image
  stage.append(image, overlay, labels);
  const side = h("div", { class: "video-editor-side" });
  const status = h("div", { class: "video-editor-status", role: "status" });
  const generalErrors = h("div", { class: "alert alert-error", hidden: "" });
  root.replaceChildren(h("div", { class: "video-editor" }, stage, side), generalErrors, status);

  // --- drawing --------------------------------------------------------------------------------
  const toFraction = (e: MouseEvent): Point => {
    const r = overlay.getBoundingClientRect();
    return [round((e.clientX - r.left) / r.width), round((e.clientY - r.top) / r.height)];
  };
  const pts = (poly: Point[]) => poly.map(([x, y]) => `${x * 1000},${y * 1000}`).join(" ");

  function drawOverlay(): void {
    overlay.replaceChildren();
    overlay.classList.remove("drawing");
    labels.replaceChildren();
    zones.forEach((zone, i) => {
      const poly = svg("polygon", {
        points: pts(zone.polygon),
        class: `video-zone${i === selected ? " selected" : ""}`,
        "data-zone": zone.id,
      });
      poly.addEventListener("mousedown", (e) => {
        if (drawing || !editable) return;
        e.stopPropagation();
        selected = i;
        render();
      });
      overlay.append(poly);
      const [cx, cy] = zone.polygon.reduce(([a, b], [x, y]) => [a + x, b + y], [0, 0]);
      const label = h("span", { class: "video-zone-label" }, zone.name);
      label.style.left = `${(cx / zone.polygon.length) * 100}%`;
      label.style.top = `${(cy / zone.polygon.length) * 100}%`;
      labels.append(label);
      if (i === selected && editable) {
        zone.polygon.forEach(([x, y], p) => {
          const handle = svg("circle", { cx: String(x * 1000), cy: String(y * 1000), r: "9", class: "video-handle" });
          handle.addEventListener("mousedown", (e) => {
            e.stopPropagation();
            e.preventDefault();
            drag = { zone: i, point: p };
          });
          overlay.append(handle);
        });
      }
    });
    if (drawing) {
      const line = [...drawing, ...(hover ? [hover] : [])];
      overlay.append(svg("polyline", { points: pts(line), class: "video-drawing" }));
      overlay.classList.add("drawing");
      drawing.forEach(([x, y]) =>
        overlay.append(svg("circle", { cx: String(x * 1000), cy: String(y * 1000), r: "6", class: "video-handle" })),
      );
    }
  }

  function closeDrawing(): void {
    if (!drawing) return;
    if (drawing.length >= 3) {
      const id = uniqueId("zone", zones.map((z) => z.id));
      zones.push({ id, name: tr("new_zone", "区域%(n)s", zones.length + 1), polygon: drawing });
      selected = zones.length - 1;
      status.textContent = tr("zone_added", "区域已添加, 请命名并添加规则");
    } else {
      status.textContent = tr("too_few_points", "区域至少需要 3 个点");
    }
    drawing = null;
    hover = null;
    render();
  }

  function deleteZone(i: number): void {
    const id = zones[i].id;
    zones.splice(i, 1);
    for (let r = rules.length - 1; r >= 0; r--) if (rules[r].zone === id) rules.splice(r, 1);
    selected = null;
    render();
  }

  if (editable) {
    overlay.addEventListener("mousedown", (e) => {
      if (e.button !== 0) return;
      stage.focus({ preventScroll: true });
      const p = toFraction(e);
      // The second press of a double-click closes the zone (the browser's click count: the
      // dblclick event itself may not come, as the drawing under the pointer was redrawn).
      if (drawing && e.detail >= 2) {
        closeDrawing();
        return;
      }
      if (!drawing) {
        drawing = [p];
        selected = null;
        status.textContent = tr("drawing", "单击添加顶点, 双击或回车闭合, Esc 取消");
      } else {
        const last = drawing[drawing.length - 1];
        if (Math.abs(last[0] - p[0]) > SAME_POINT || Math.abs(last[1] - p[1]) > SAME_POINT) drawing.push(p);
      }
      drawOverlay();
    });
    overlay.addEventListener("dblclick", (e) => {
      e.preventDefault();
      closeDrawing();
    });
    overlay.addEventListener("mousemove", (e) => {
      if (drawing) {
        hover = toFraction(e);
        drawOverlay();
      }
    });
    window.addEventListener("mousemove", (e) => {
      if (!drag) return;
      zones[drag.zone].polygon[drag.point] = toFraction(e);
      drawOverlay();
    });
    window.addEventListener("mouseup", () => {
      if (drag) {
        drag = null;
        sync();
      }
    });
    stage.addEventListener("keydown", (e) => {
      if (e.key === "Enter") closeDrawing();
      else if (e.key === "Escape") {
        drawing = null;
        hover = null;
        drawOverlay();
      } else if ((e.key === "Delete" || e.key === "Backspace") && selected !== null && !drawing) {
        deleteZone(selected);
      } else return;
      e.preventDefault();
    });
  }

  // --- the side panel: zones and rules -----------------------------------------------------------
  function input(field: string, value: unknown, fs: FieldSpec, onChange: (v: unknown) => void): HTMLElement {
    const el = h("input", { "data-field": field, name: field });
    if (fs.type === "boolean") {
      el.type = "checkbox";
      el.checked = Boolean(value);
    } else if (fs.type === "number" || fs.type === "integer") {
      el.type = "number";
      el.step = fs.type === "integer" ? "1" : "any";
      if (fs.minimum !== undefined) el.min = String(fs.minimum);
      if (fs.maximum !== undefined) el.max = String(fs.maximum);
      el.value = value === null || value === undefined ? "" : String(value);
    } else {
      el.type = "text";
      el.value = Array.isArray(value) ? value.join(", ") : String(value ?? "");
    }
    el.disabled = !editable;
    el.addEventListener(fs.type === "boolean" ? "change" : "input", () => {
      onChange(parseValue(fs, el));
      sync();
    });
    const label = h("label", { class: fs.type === "boolean" ? "filter-check" : "video-field" });
    if (fs.type === "boolean") label.append(el, " ", fs.label);
    else label.append(h("span", {}, fs.label), el);
    return label;
  }

  function scheduleEditor(rule: Rule, r: number): HTMLElement {
    const box = h("div", { class: "video-schedule", "data-field": `rules.${r}.schedule` });
    box.append(h("span", { class: "muted small" }, `${spec.labels.schedule ?? "生效时段"}: `));
    const windows = (rule.schedule ??= []);
    if (!windows.length) box.append(h("span", { class: "muted small" }, `${tr("all_day", "全天")} `));
    windows.forEach((w, j) => {
      const row = h("div", { class: "video-window", "data-field": `rules.${r}.schedule.${j}` });
      DAYS.forEach((d, k) => {
        const cb = h("input", { type: "checkbox", "aria-label": DAY_NAMES[k] ?? d });
        cb.checked = w.days.includes(k + 1);
        cb.disabled = !editable;
        cb.addEventListener("change", () => {
          w.days = DAYS.map((_, n) => n + 1).filter((n) => (n === k + 1 ? cb.checked : w.days.includes(n)));
          sync();
        });
        row.append(h("label", { class: "video-day" }, cb, d));
      });
      for (const end of ["start", "end"] as const) {
        const t = h("input", { type: "time", "data-field": `rules.${r}.schedule.${j}.${end}` });
        t.value = w[end];
        t.disabled = !editable;
        t.addEventListener("input", () => {
          w[end] = t.value;
          sync();
        });
        row.append(t);
      }
      if (editable) row.append(button("×", () => windows.splice(j, 1), tr("delete_window", "删除时段")));
      box.append(row);
    });
    if (editable)
      box.append(
        button(tr("add_window", "+ 时段"), () => windows.push({ days: [1, 2, 3, 4, 5, 6, 7], start: "08:00", end: "20:00" })),
      );
    return box;
  }

  function button(text: string, act: () => void, title = ""): HTMLButtonElement {
    const b = h("button", { type: "button", class: "btn btn-sm", title });
    b.textContent = text;
    b.addEventListener("click", () => {
      act();
      render();
    });
    return b;
  }

  function ruleEditor(rule: Rule, r: number): HTMLElement {
    const kind = spec.kinds[rule.kind];
    const box = h("fieldset", { class: "video-rule", "data-rule": rule.id });
    box.append(h("legend", {}, `${kind?.label ?? rule.kind} · ${rule.id}`));
    const zoneSelect = h("select", { "data-field": `rules.${r}.zone`, name: `rules.${r}.zone` });
    for (const z of zones) {
      const o = h("option", { value: z.id }, z.name);
      o.selected = z.id === rule.zone;
      zoneSelect.append(o);
    }
    zoneSelect.disabled = !editable;
    zoneSelect.addEventListener("change", () => {
      rule.zone = zoneSelect.value;
      sync();
    });
    box.append(h("label", { class: "video-field" }, h("span", {}, tr("zone", "区域")), zoneSelect));
    for (const fs of [...(kind?.fields ?? []), ...spec.common]) {
      box.append(input(`rules.${r}.${fs.name}`, rule[fs.name] ?? fs.default, fs, (v) => (rule[fs.name] = v)));
    }
    box.append(scheduleEditor(rule, r));
    const ignored = Array.isArray(rule.ignore) ? rule.ignore.length : 0;
    if (ignored) {
      box.append(h("span", { class: "muted small" }, `${tr("ignored", "已忽略 %(n)s 处误报", ignored)} `));
      if (editable) box.append(button(tr("clear", "清除"), () => (rule.ignore = [])));
    }
    if (editable) box.append(button(tr("delete_rule", "删除规则"), () => rules.splice(r, 1)));
    return box;
  }

  function newRule(kind: string, zone: string): void {
    const k = spec.kinds[kind];
    const rule: Rule = { id: uniqueId(kind, rules.map((r) => r.id)), kind, zone, schedule: [] };
    for (const fs of [...k.fields, ...spec.common]) rule[fs.name] = structuredClone(fs.default);
    rules.push(rule);
  }

  function renderSide(): void {
    side.replaceChildren();
    const fps = h("input", { type: "number", step: "any", min: "0.05", max: "30", "data-field": "sample_fps" });
    fps.value = String(analytics.sample_fps ?? 1);
    fps.disabled = !editable;
    fps.addEventListener("input", () => {
      analytics.sample_fps = fps.value === "" ? undefined : Number(fps.value);
      sync();
    });
    side.append(h("label", { class: "video-field" }, h("span", {}, tr("sample_fps", "分析帧率 (帧/秒)")), fps));
    side.append(h("h3", {}, tr("zones", "区域 (%(n)s)", zones.length)));
    if (!zones.length)
      side.append(h("p", { class: "muted small" }, editable ? tr("draw_hint", "在画面上单击开始绘制区域") : tr("no_zones", "未设置区域")));
    zones.forEach((zone, i) => {
      const row = h("div", { class: `video-zone-row${i === selected ? " selected" : ""}`, "data-zone-row": zone.id });
      const name = h("input", { type: "text", "data-field": `zones.${i}.name`, name: `zones.${i}.name`, maxlength: "60" });
      name.value = zone.name;
      name.disabled = !editable;
      name.addEventListener("input", () => {
        zone.name = name.value;
        sync();
        drawOverlay();
      });
      name.addEventListener("focus", () => {
        selected = i;
        drawOverlay();
      });
      row.append(h("span", { class: "mono small", "data-field": `zones.${i}.polygon` }, zone.id), name);
      if (editable) {
        const add = h("select", { "aria-label": tr("add_rule", "添加规则") });
        add.append(h("option", { value: "" }, tr("new_rule", "+ 规则")));
        for (const [k, v] of Object.entries(spec.kinds)) add.append(h("option", { value: k }, v.label));
        add.addEventListener("change", () => {
          if (!add.value) return;
          newRule(add.value, zone.id);
          render();
        });
        row.append(add, button(tr("delete", "删除"), () => deleteZone(i)));
      }
      side.append(row);
    });
    side.append(h("h3", {}, tr("rules", "规则 (%(n)s)", rules.length)));
    rules.forEach((rule, r) => side.append(ruleEditor(rule, r)));
    if (editable) {
      const save = h("button", { type: "button", class: "btn btn-primary", "data-save": "" });
      save.textContent = tr("save", "保存设置");
      save.addEventListener("click", () => void submit(save));
      side.append(h("div", { class: "video-editor-actions" }, save));
    }
  }

  // --- saving and errors --------------------------------------------------------------------------
  const jsonArea = document.getElementById("video-analytics-json") as HTMLTextAreaElement | null;
  function sync(): void {
    if (jsonArea) jsonArea.value = JSON.stringify(analytics, null, 2);
  }

  function showErrors(errors: FieldError[]): void {
    root.querySelectorAll(".field-error").forEach((e) => e.remove());
    root.querySelectorAll("[aria-invalid]").forEach((e) => e.removeAttribute("aria-invalid"));
    const general: FieldError[] = [];
    for (const err of errors) {
      // The field itself, or the closest enclosing one (zones.0.polygon.3.1 → zones.0.polygon).
      let target: Element | null = null;
      const parts = err.field ? err.field.split(".") : [];
      while (parts.length && !target) {
        target = root.querySelector(`[data-field="${CSS.escape(parts.join("."))}"]`);
        if (!target) parts.pop();
      }
      if (!target) {
        general.push(err);
        continue;
      }
      target.setAttribute("aria-invalid", "true");
      const note = h("span", { class: "field-error", "data-error-for": err.field }, err.message);
      (target.closest("label") ?? target).after(note);
    }
    generalErrors.hidden = !general.length;
    generalErrors.replaceChildren(
      ...general.map((e) => h("div", {}, e.field ? `${e.field}: ${e.message}` : e.message)),
    );
  }

  async function submit(save: HTMLButtonElement): Promise<void> {
    save.disabled = true;
    status.textContent = tr("saving", "保存中…");
    try {
      const response = await fetch(spec.save_url, {
        method: "POST",
        credentials: "same-origin",
        headers: { "Content-Type": "application/json", "X-CSRFToken": csrfToken(), Accept: "application/json" },
        body: JSON.stringify(analytics),
      });
      const body = (await response.json().catch(() => ({}))) as {
        message?: string;
        errors?: FieldError[];
        analytics?: Analytics;
      };
      if (response.ok && body.analytics) {
        showErrors([]);
        status.textContent = body.message ?? tr("saved", "已保存");
        status.dataset.saved = String(Date.now());
      } else {
        status.textContent = body.message ?? tr("save_failed", "保存失败 (%(status)s)", response.status);
        showErrors(body.errors ?? [{ field: "", message: `HTTP ${response.status}` }]);
      }
    } catch {
      status.textContent = tr("network_error", "网络错误, 未保存");
    } finally {
      save.disabled = false;
    }
  }

  let ready = false; // the first drawing leaves the JSON text as the server wrote it (a refused post)
  function render(): void {
    drawOverlay();
    renderSide();
    if (ready) sync();
  }

  render();
  ready = true;
  const serverErrors = document.getElementById("video-editor-errors");
  if (serverErrors) showErrors(JSON.parse(serverErrors.textContent ?? "[]") as FieldError[]);
}
