// The assignment list: households of the assigned desa grouped by RT (the enumerator's own, soonest
// due first, then the shared ones), search, status and source filters, progress counts (from Rust).
import type { AssignmentSource, HouseholdRow, WorkStatus } from "../api";
import type { Ctx } from "../app";
import { h } from "../dom";
import { t } from "../i18n";
import { label, vocab } from "../vocabulary";

/** The work states in their vocabulary order (verivali-domain's WorkStatus). */
export const STATUSES = vocab.work_states.map((s) => s.code as WorkStatus);
let lastQuery = { text: "", status: "", source: "" };

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
  const results = h("div", { id: "households" });
  const load = async () => {
    lastQuery = { text: search.value, status: status.value, source: source.value };
    const groups = await ctx.api.assignments({
      text: search.value || null,
      status: (status.value || null) as WorkStatus | null,
      source: (source.value || null) as AssignmentSource | null,
    });
    results.replaceChildren(...(groups.length ? groups.map((g) =>
      h("section", { class: "rt" },
        h("h2", {}, t("list.rt", { rt: g.rt, rw: g.rw, desa: g.nama_desa ? `${g.nama_desa} (${g.kode_desa})` : g.kode_desa })),
        h("ul", { class: "cards" }, g.households.map((r) =>
          h("li", {}, h("button", { type: "button", class: `card status-${r.status}`, "data-household": r.id, onclick: () => ctx.go("household", r.id) },
            h("span", { class: "name" }, r.nama_krt),
            h("span", { class: "muted" }, r.alamat),
            r.withdrawn ? h("span", { class: "assignment withdrawn" }, t("list.withdrawn")) : assignmentLine(r),
            h("span", { class: "meta" }, h("span", { class: `badge ${r.status}` }, label(vocab.work_states, r.status)), " ", t("list.members", { n: r.members }))))))))
      : [h("p", { class: "muted", id: "list-empty" }, t("list.empty"))]));
  };
  let timer = 0;
  search.addEventListener("input", () => { window.clearTimeout(timer); timer = window.setTimeout(() => void load(), 250); });
  status.addEventListener("change", () => void load());
  source.addEventListener("change", () => void load());
  await load();
  return h("section", { class: "screen" },
    h("h1", {}, t("list.title")),
    h("p", { id: "progress", class: "progress" }, t("progress", p)),
    h("div", { class: "filters" }, search, status, source),
    results);
}
