// Send: choose finished visits for a batch, sync now, the supervisor's inbox (amend and
// resubmit), what needs attention, and signing out (refused while work is unsent).
import { errorMessage, isWiped } from "../api";
import type { Ctx } from "../app";
import { h, toast } from "../dom";
import { lang, t } from "../i18n";
import { label, vocab } from "../vocabulary";

/** Server codes after which signing in again (keeping the store) brings the sync back. */
const SESSION_ENDED = ["auth.token_expired", "auth.token_revoked", "auth.invalid_token"];

const when = (iso: string) => new Date(iso).toLocaleString(lang() === "en" ? "en-GB" : "id-ID", { dateStyle: "medium", timeStyle: "short" });

export async function sendScreen(ctx: Ctx): Promise<HTMLElement> {
  const s = await ctx.api.syncState();
  const result = h("p", { id: "sync-result", role: "status" });
  const chosen = new Set(s.ready.map((r) => r.visit_id));
  const submitBtn = h("button", { type: "button", class: "primary", id: "submit-batch", disabled: chosen.size === 0 }, t("send.submit", { n: chosen.size }));
  const updateSubmit = () => { submitBtn.textContent = t("send.submit", { n: chosen.size }); (submitBtn as HTMLButtonElement).disabled = chosen.size === 0; };
  submitBtn.addEventListener("click", async () => {
    try {
      const n = await ctx.api.submit([...chosen]);
      toast(t("send.submitted", { n }));
      ctx.go("send");
    } catch (e) { result.textContent = errorMessage(e); }
  });
  const sync = h("button", { type: "button", class: "primary", id: "sync-now", disabled: ctx.syncing() }, ctx.syncing() ? t("send.syncing") : t("send.sync"));
  sync.addEventListener("click", async () => {
    (sync as HTMLButtonElement).disabled = true;
    result.textContent = t("send.syncing");
    try {
      const r = await ctx.sync();
      toast(t("send.synced", { acked: r.acked, rejected: r.rejected, pulled: r.pulled, photos: r.photos }) +
        (r.removed ? ` · ${t("send.removed", { n: r.removed })}` : ""));
      // The app redraws this screen when the sync ends, if it still shows (app.ts).
    } catch (e) {
      if (isWiped(e)) {
        toast(errorMessage(e));
        ctx.go("signin");
        return;
      }
      result.textContent = errorMessage(e);
      (sync as HTMLButtonElement).disabled = false;
      if (SESSION_ENDED.includes((e as { code?: string })?.code ?? "")) again.hidden = false;
    }
  });
  // The session ended (offline longer than it lives, or signed out elsewhere): sign in again
  // here, with the password, keeping everything queued on the phone.
  const again = h("form", { id: "sign-in-again", class: "stack card", hidden: true },
    h("p", {}, t("send.again_help")),
    h("label", {}, t("signin.password"), h("input", { name: "password", id: "again-password", type: "password", required: true, autocomplete: "current-password" })),
    h("button", { type: "submit", class: "primary", id: "again-submit" }, t("send.again"))) as HTMLFormElement;
  again.addEventListener("submit", async (e) => {
    e.preventDefault();
    try {
      await ctx.api.renewSession((again.elements.namedItem("password") as HTMLInputElement).value);
      toast(t("send.again_done"));
      ctx.go("send");
    } catch (x) { result.textContent = errorMessage(x); }
  });
  const signOut = h("button", { type: "button", class: "quiet danger", id: "sign-out" }, t("send.sign_out"));
  signOut.addEventListener("click", async () => {
    try { await ctx.api.signOut(); ctx.go("signin"); } catch (e) { result.textContent = errorMessage(e); }
  });
  return h("section", { class: "screen", id: "send" },
    h("h1", {}, t("send.title")),
    h("p", { id: "pending", class: "big" }, t("send.pending", { n: s.outbox.pending_visits })),
    s.outbox.pending_ops > s.outbox.pending_visits ? h("p", { class: "muted", id: "pending-ops" }, t("send.pending_ops", { n: s.outbox.pending_ops })) : null,
    h("p", { class: "muted", id: "last-sync" }, s.last_sync ? t("send.last", { t: new Date(s.last_sync).toLocaleString(lang() === "en" ? "en-GB" : "id-ID") }) : t("send.never")),
    sync, result, again,
    h("h2", {}, t("send.ready")),
    s.ready.length
      ? h("ul", { id: "ready", class: "checks" }, s.ready.map((r) => {
          const box = h("input", { type: "checkbox", checked: true, value: r.visit_id }) as HTMLInputElement;
          box.addEventListener("change", () => { if (box.checked) chosen.add(r.visit_id); else chosen.delete(r.visit_id); updateSubmit(); });
          return h("li", {}, h("label", { class: "choice" }, box, r.nama_krt));
        }))
      : h("p", { class: "muted" }, t("send.none_ready")),
    submitBtn,
    s.inbox.length ? [h("h2", {}, t("send.inbox")), h("ul", { id: "inbox", class: "cards" }, s.inbox.map((r) =>
      h("li", { class: "card status-rejected" }, h("strong", {}, r.nama_krt), h("p", { class: "reason" }, r.reason),
        h("button", { type: "button", class: "amend", onclick: () => ctx.go("visit", r.household_id) }, t("send.amend")))))] : null,
    s.needs_attention.length ? [h("h2", {}, t("send.attention")), h("ul", { id: "attention" }, s.needs_attention.map((a) => h("li", { class: "warn" }, `${t(a.op_type === "batch.submit" ? "send.op_batch" : a.op_type === "household.propose" ? "send.op_propose" : "send.op_visit")}: ${a.message}`)))] : null,
    // What the server holds now, each visit with when it arrived.
    s.received.length ? [h("h2", {}, t("send.received")), h("ul", { id: "received", class: "cards" }, s.received.map((r) =>
      h("li", { class: "card", "data-visit": r.visit_id }, h("strong", {}, r.nama_krt),
        h("span", { class: "ok" }, r.submitted_at ? t("send.received_submitted", { t: when(r.submitted_at) }) : t("send.received_at", { t: when(r.received_at) })),
        h("span", { class: `badge ${r.state}` }, label(vocab.review_states, r.state)))))] : null,
    // The last syncs: what went up and down, or why one stopped.
    s.log.length ? [h("h2", {}, t("send.log")), h("ul", { id: "sync-log" }, s.log.map((e) =>
      h("li", { class: e.ok ? "" : "warn" }, `${when(e.at)} · `, e.ok ? t("send.log_ok", { up: e.ops_up, photos: e.photos_up, down: e.pulled }) : t("send.log_failed", { why: e.message ?? e.code ?? "" }))))] : null,
    signOut);
}
