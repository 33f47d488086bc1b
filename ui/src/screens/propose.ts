// A new household (usulan baru): a family the baseline lacks, met in the field. The enumerator
// enters where it lives and its head; Rust checks the fields (verivali-domain), stores it and
// queues `household.propose`; the visit form then opens on it with the outcome `usulan_baru`,
// to add the members (with their NIK checks) and answer the questionnaire. The supervisor
// reviews it like any visit; on approval it joins the baseline.
import type { HouseholdFields, Issue } from "../api";
import { errorMessage } from "../api";
import type { Ctx } from "../app";
import { h, toast } from "../dom";
import { t } from "../i18n";
import { label, vocab } from "../vocabulary";

export async function proposeScreen(ctx: Ctx): Promise<HTMLElement> {
  // The desa this phone works in, from its own list.
  const groups = await ctx.api.assignments({});
  const desas = [...new Map(groups.map((g) => [g.kode_desa, g.nama_desa ? `${g.nama_desa} (${g.kode_desa})` : g.kode_desa])).entries()];
  const slots = new Map<string, HTMLElement>();
  const field = (at: string, text: string, control: HTMLElement) => {
    const slot = h("p", { class: "field-issue", "data-at": at });
    slots.set(at, slot);
    return h("label", { class: "field" }, text, control, slot);
  };
  const input = (id: string, attrs: Record<string, string> = {}) => h("input", { id: `new-${id}`, name: id, ...attrs }) as HTMLInputElement;
  const desa = h("select", { id: "new-desa", name: "kode_desa" }, desas.map(([code, name]) => h("option", { value: code }, name))) as HTMLSelectElement;
  const f = {
    nama_krt: input("nama_krt", { autocomplete: "off" }),
    no_kk: input("no_kk", { inputmode: "numeric", maxlength: "16" }),
    alamat: input("alamat"),
    rt: input("rt", { inputmode: "numeric", maxlength: "3" }),
    rw: input("rw", { inputmode: "numeric", maxlength: "3" }),
  };
  const form = h("form", { class: "screen", id: "propose" },
    h("button", { type: "button", class: "quiet", id: "back", onclick: () => ctx.go("list") }, `← ${t("hh.back")}`),
    h("h1", {}, t("propose.title")),
    h("p", { class: "muted" }, t("propose.help")),
    field("kode_desa", t("propose.desa"), desa),
    field("nama_krt", label(vocab.household_fields, "nama_krt"), f.nama_krt),
    field("no_kk", `${label(vocab.household_fields, "no_kk")} (${t("propose.optional")})`, f.no_kk),
    field("alamat", label(vocab.household_fields, "alamat"), f.alamat),
    h("div", { class: "row" }, field("rt", label(vocab.household_fields, "rt"), f.rt), field("rw", label(vocab.household_fields, "rw"), f.rw)),
    h("button", { type: "submit", class: "primary", id: "propose-submit" }, t("propose.submit"))) as HTMLFormElement;
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const fields: HouseholdFields = {
      nama_krt: f.nama_krt.value.trim(), no_kk: f.no_kk.value.trim() || null,
      alamat: f.alamat.value.trim(), rt: f.rt.value.trim(), rw: f.rw.value.trim(),
    };
    for (const el of slots.values()) el.textContent = "";
    try {
      const id = await ctx.api.proposeHousehold(fields, desa.value);
      toast(t("propose.saved"));
      ctx.go("visit", id);
    } catch (x) {
      const issues = (x as { issues?: Issue[] }).issues ?? [];
      for (const i of issues) {
        const slot = slots.get(i.at.replace(/^household\./, "")) ?? slots.get("alamat");
        if (slot) slot.textContent = [slot.textContent, i.message].filter(Boolean).join(" · ");
      }
      if (!issues.length) toast(errorMessage(x));
    }
  });
  return form;
}
