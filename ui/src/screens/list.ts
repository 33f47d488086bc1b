// The assignment list: households of the assigned desa grouped by RT (the enumerator's own, soonest
// due first, then the shared ones), search, status and source filters, progress counts (from Rust).
import type { AssignmentSource, HouseholdRow, RtGroup, WorkStatus } from "../api";
import type { Ctx } from "../app";
import { h } from "../dom";
import { t, type Key } from "../i18n";
import { label, vocab } from "../vocabulary";

/** The work states in their vocabulary order (verivali-domain's WorkStatus). */
export const STATUSES = vocab.work_states.map((s) => s.code as WorkStatus);
let lastQuery = { text: "", status: "", source: "" };
/** Where the list was scrolled when a household was opened. */
let lastScroll = 0;

/** Today in the field's calendar (WIT, UTC+9, as verivali-domain's validation date). */
function fieldToday(): string {
  return new Date(Date.now() + 9 * 3600_000).toISOString().slice(0, 10);
}

/** Why and by when a household is the enumerator's own; nothing for a shared one. */
export function assignmentLine(r: HouseholdRow, today = fieldToday()): HTMLElement | null {
  const a = r.assignment;
  if (!a) return null;
  const overdue = a.due_date !== null && a.due_date < today && !["submitted", "approved"].includes(r.status);
  return h("span", { class: overdue ? "assignment overdue" : "assignment" },
    label(vocab.assignment_sources, a.source),
    a.due_date ? ` · ${t(overdue ? "list.overdue" : "list.due", { date: a.due_date })}` : "");
}

export async function listScreen(ctx: Ctx): Promise<HTMLElement> {
  // What counts as done is verivali-domain's rule (WorkStatus::is_done), counted by the store.
  const p = await ctx.api.progress();
  const search = h("input", { type: "search", id: "search", placeholder: t("list.search"), "aria-label": t("list.search"), value: lastQuery.text }) as HTMLInputElement;
  const status = h("select", { id: "status-filter", "aria-label": t("list.status") },
    h("option", { value: "" }, t("list.all")),
    STATUSES.map((s) => h("option", { value: s, selected: lastQuery.status === s }, label(vocab.work_states, s)))) as HTMLSelectElement;
  const source = h("select", { id: "source-filter", "aria-label": t("list.source") },
    h("option", { value: "" }, t("list.all_sources")),
    vocab.assignment_sources.map((s) => h("option", { value: s.code, selected: lastQuery.source === s.code }, label(vocab.assignment_sources, s.code)))) as HTMLSelectElement;
  const results = h("div", { id: "households", class: "window" });
  const load = async () => {
    lastQuery = { text: search.value, status: status.value, source: source.value };
    const groups = await ctx.api.assignments({
      text: search.value || null,
      status: (status.value || null) as WorkStatus | null,
      source: (source.value || null) as AssignmentSource | null,
    });
    list.set(flatten(groups));
    results.dataset.count = String(groups.reduce((n, g) => n + g.households.length, 0));
  };
  const card = (r: HouseholdRow) => h("button", { type: "button", class: `card status-${r.status}`, "data-household": r.id, onclick: () => { lastScroll = window.scrollY; ctx.go("household", r.id); } },
    h("span", { class: "name" }, r.nama_krt),
    r.matched && r.matched.field !== "head" && r.matched.field !== "words"
      ? h("span", { class: "matched" }, t(`list.match_${r.matched.field}` as Key, { text: r.matched.text }))
      : h("span", { class: "muted" }, r.alamat),
    r.withdrawn ? h("span", { class: "assignment withdrawn" }, t("list.withdrawn")) : assignmentLine(r),
    h("span", { class: "meta" }, h("span", { class: `badge ${r.status}` }, label(vocab.work_states, r.status)), " ", t("list.members", { n: r.members })));
  const list = windowed(results, (item) => item.kind === "rt"
    ? h("h2", { class: "rt-head" }, t("list.rt", { rt: item.g.rt, rw: item.g.rw, desa: item.g.nama_desa ? `${item.g.nama_desa} (${item.g.kode_desa})` : item.g.kode_desa }))
    : card(item.r), h("p", { class: "muted", id: "list-empty" }, t("list.empty")));
  let timer = 0;
  search.addEventListener("input", () => { window.clearTimeout(timer); timer = window.setTimeout(() => void load(), 250); });
  status.addEventListener("change", () => void load());
  source.addEventListener("change", () => void load());
  await load();
  const screen = h("section", { class: "screen" },
    h("h1", {}, t("list.title")),
    // The period's cut-off, from three days before it (the phone's clock: it warns offline too).
    p.cutoff ? h("p", { id: "cutoff", class: "banner", role: "status" },
      t(p.cutoff.days_left === 0 ? "cutoff.today" : "cutoff.days", { period: p.cutoff.period, date: p.cutoff.cutoff, n: p.cutoff.days_left })) : null,
    h("p", { id: "progress", class: "progress" }, t("progress", { done: p.done, total: p.total })),
    h("div", { class: "filters" }, search, status, source),
    h("button", { type: "button", class: "quiet", id: "propose", onclick: () => ctx.go("propose") }, `+ ${t("list.propose")}`),
    results);
  // "Back" from a household returns to the same card.
  screen.dataset.scroll = String(lastScroll);
  lastScroll = 0;
  return screen;
}

type Item = { kind: "rt"; g: RtGroup } | { kind: "hh"; r: HouseholdRow };

function flatten(groups: RtGroup[]): Item[] {
  return groups.flatMap((g) => [{ kind: "rt" as const, g }, ...g.households.map((r) => ({ kind: "hh" as const, r }))]);
}

/** Rows kept in the DOM beyond the screen's edge, each way. */
const OVERSCAN = 8;

/**
 * A windowed list: only the rows on screen (and a few beyond) are in the DOM, positioned in a
 * spacer as tall as the whole list, so 5,000 households cost a screenful of nodes and a search
 * rebuilds a screenful. Row heights are measured from the first rendered header and card (they
 * follow the phone's font size; every card has the same lines, clipped by CSS).
 */
export function windowed(root: HTMLElement, render: (item: Item) => HTMLElement, empty: HTMLElement) {
  let items: Item[] = [];
  let tops: number[] = [];
  // Row heights in px: measured once the list is in the page (they follow the phone's font
  // size; every card has the same lines, clipped by CSS); the CSS defaults until then.
  let height = { rt: 44, hh: 112 };
  let measured = false;
  const measure = () => {
    if (measured || !root.isConnected) return;
    const next = { ...height };
    for (const kind of ["rt", "hh"] as const) {
      const sample = items.find((i) => i.kind === kind);
      if (!sample) return;
      const el = render(sample);
      el.classList.add("row-abs");
      el.style.visibility = "hidden";
      root.append(el);
      const px = Math.ceil(el.getBoundingClientRect().height);
      el.remove();
      // Without layout (unit tests) the defaults stay. Cards sit 8 px apart.
      if (!px) return;
      next[kind] = px + (kind === "hh" ? 8 : 0);
    }
    height = next;
    measured = true;
  };
  const layout = () => {
    measure();
    let y = 0;
    tops = items.map((i) => { const top = y; y += height[i.kind]; return top; });
    root.style.height = items.length ? `${y}px` : "";
  };
  // The rows in the page by index. A scroll adds the rows coming into view and drops those far
  // out of it, and never rebuilds a row that stays: a tap that lands just as a scroll settles
  // hits the card the thumb saw, not a copy put in its place.
  let shown = new Map<number, HTMLElement>();
  let range: [number, number] = [-1, -1];
  const paint = (force = false) => {
    // Rows are placed by measured heights; a list painted before it was in the page used the
    // defaults, which at a large font overlap the cards (one card then covers the next).
    if (!measured && root.isConnected) {
      layout();
      force = force || measured;
    }
    if (!items.length) { shown = new Map(); range = [-1, -1]; root.style.height = ""; root.replaceChildren(empty); return; }
    const view = root.getBoundingClientRect().top;
    const from = -view, to = -view + (window.innerHeight || 800);
    let first = tops.findIndex((top, i) => top + height[items[i].kind] >= from);
    if (first < 0) first = items.length - 1;
    let last = first;
    while (last < items.length - 1 && tops[last + 1] <= to) last += 1;
    const a = Math.max(0, first - OVERSCAN), b = Math.min(items.length - 1, last + OVERSCAN);
    if (!force && a === range[0] && b === range[1]) return;
    if (force) { shown = new Map(); root.replaceChildren(); }
    const next = new Map<number, HTMLElement>();
    for (let i = a; i <= b; i += 1) {
      let el = shown.get(i);
      if (!el) {
        el = render(items[i]);
        el.classList.add("row-abs");
        el.style.top = `${tops[i]}px`;
        el.dataset.index = String(i);
      }
      next.set(i, el);
    }
    for (const [i, el] of shown) if (!next.has(i)) el.remove();
    if (empty.parentNode === root) empty.remove();
    // New rows go in index order around the kept ones, which never move.
    let prev: HTMLElement | null = null;
    for (let i = a; i <= b; i += 1) {
      const el = next.get(i)!;
      if (el.parentNode !== root) { if (prev) prev.after(el); else root.prepend(el); }
      prev = el;
    }
    shown = next;
    range = [a, b];
  };
  let frame = 0;
  const onScroll = () => {
    if (!root.isConnected) { window.removeEventListener("scroll", onScroll); return; }
    if (!frame) frame = requestAnimationFrame(() => { frame = 0; paint(); });
  };
  window.addEventListener("scroll", onScroll, { passive: true });
  window.addEventListener("resize", () => { measured = false; if (root.isConnected) { layout(); paint(true); } });
  return {
    set(next: Item[]) {
      items = next;
      layout();
      paint(true);
      // Measured and painted again once the screen is in the page (its position is known then):
      // on a slow phone the screen may be attached some frames later; a second of frames at most.
      let frames = 60;
      const settle = () => {
        if (!root.isConnected && frames-- > 0) { requestAnimationFrame(settle); return; }
        paint();
      };
      requestAnimationFrame(settle);
    },
  };
}
