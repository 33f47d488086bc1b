// One household: baseline, members, earlier visits with the supervisor's reasons.
import type { HouseholdDetail } from "../api";
import { errorMessage, thumbnailUrl } from "../api";
import type { Ctx } from "../app";
import { h, toast } from "../dom";
import { lang, t } from "../i18n";
import { label, vocab } from "../vocabulary";

/** A stored time (RFC 3339, UTC) in the phone's own clock and zone, as people read it
 * ("2 Des 2026 10.05"); `timeZone` only for tests. */
export function localTime(iso: string, timeZone?: string): string {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  return d.toLocaleString(lang() === "en" ? "en-GB" : "id-ID", { dateStyle: "medium", timeStyle: "short", timeZone });
}

export async function householdScreen(ctx: Ctx, id: string): Promise<HTMLElement> {
  const d = await ctx.api.household(id);
  const hh = d.household;
  const row = (label: string, value: string | number | null) => h("div", { class: "kv" }, h("dt", {}, label), h("dd", {}, value ?? "—"));
  return h("section", { class: "screen", id: "household" },
    h("button", { type: "button", class: "quiet", id: "back", onclick: () => ctx.go("list") }, `← ${t("hh.back")}`),
    h("h1", {}, hh.nama_krt),
    h("p", {}, h("span", { class: `badge ${d.status}` }, label(vocab.work_states, d.status))),
    h("h2", {}, t("hh.baseline")),
    h("dl", {}, row(label(vocab.household_fields, "no_kk"), hh.no_kk), row(label(vocab.household_fields, "alamat"), hh.alamat), row(label(vocab.household_fields, "rt"), hh.rt), row(label(vocab.household_fields, "rw"), hh.rw), row(label(vocab.household_fields, "desil"), hh.desil)),
    h("h2", {}, t("hh.members")),
    h("ul", { id: "members" }, d.members.map((m) => h("li", {}, h("strong", {}, m.name),
      ` · ${label(vocab.relationships, m.relationship)} · ${m.nik ?? "—"} · ${label(vocab.sexes, m.sex)} · ${m.birth_date ?? ""}`))),
    h("h2", {}, t("hh.visits")),
    d.visits.length
      ? h("ul", { id: "visits" }, d.visits.map((v) => h("li", {},
          h("span", { class: `badge ${v.state}` }, label(vocab.review_states, v.state)), ` ${label(vocab.outcomes, v.outcome)} · ${localTime(v.updated_at)}`,
          v.reviews.filter((r) => r.reason).map((r) => h("p", { class: "reason" }, t("hh.reason", { r: r.reason ?? "" }))),
          (v.photos ?? []).length ? h("ul", { class: "thumbs" }, v.photos.map((p) => {
            const img = h("img", { alt: label(vocab.photo_kinds, p.kind), width: 72, height: 72 }) as HTMLImageElement;
            void thumbnailUrl(ctx.api, p.sha256, 120).then((url) => { if (url) img.src = url; else img.remove(); });
            return h("li", {}, img, h("span", {}, label(vocab.photo_kinds, p.kind)));
          })) : null)))
      : h("p", { class: "muted" }, t("hh.no_visits")),
    ...actions(ctx, d));
}

/** What the enumerator may do here: visit, and discard a draft never sent (two taps). A household
 * given to a colleague keeps only the work begun on it: nothing new is started there. */
function actions(ctx: Ctx, d: HouseholdDetail): HTMLElement[] {
  const open = d.visits.find((v) => v.state === "draft" || v.state === "rejected");
  const visit = h("button", { type: "button", class: "primary", id: "visit", onclick: () => ctx.go("visit", d.household.id) }, t("hh.visit"));
  // A draft the server never received (never finished) can be thrown away: a visit begun on the
  // wrong house, or on a household given to a colleague.
  const draft = d.visits.find((v) => !v.finished && v.state === "draft" && v.revision === 0);
  const out: HTMLElement[] = d.withdrawn ? [h("p", { class: "notice", id: "withdrawn", role: "status" }, t(open ? "hh.withdrawn" : "hh.withdrawn_done"))] : [];
  if (open || !d.withdrawn) out.push(visit);
  if (draft) {
    const slot = h("div", { class: "confirm" });
    const ask = () => slot.replaceChildren(
      h("button", { type: "button", class: "danger", id: "discard-sure", onclick: async () => {
        try {
          const gone = await ctx.api.discardDraft(draft.visit_id);
          toast(t("hh.discarded"));
          if (gone) ctx.go("list"); else ctx.go("household", d.household.id);
        } catch (e) { toast(errorMessage(e)); }
      } }, t("hh.discard_sure")),
      h("button", { type: "button", class: "quiet", id: "discard-cancel", onclick: () => rest() }, t("hh.cancel")));
    const rest = () => slot.replaceChildren(h("button", { type: "button", class: "quiet", id: "discard", onclick: ask }, t("hh.discard")));
    rest();
    out.push(slot);
  }
  return out;
}
