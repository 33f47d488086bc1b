// The app shell: which screen shows, the bottom navigation, language. Screens are functions of a
// context, so tests can mount any of them with a fake Api.
import type { Api, Status, SyncDone, SyncState } from "./api";
import { errorMessage, isWiped } from "./api";
import { h, toast } from "./dom";
import { setLang, t } from "./i18n";
import { signInScreen, unlockScreen } from "./screens/signin";
import { listScreen } from "./screens/list";
import { householdScreen } from "./screens/household";
import { visitScreen } from "./screens/visit";
import { sendScreen } from "./screens/send";
import { proposeScreen } from "./screens/propose";

/** Visits that still need the enumerator or the network: finished but not yet submitted, queued
 * for the server, or sent back by the supervisor. */
export function waitingVisits(s: SyncState): number {
  const ids = new Set([...s.ready.map((r) => r.visit_id), ...s.inbox.map((r) => r.visit_id)]);
  return Math.max(ids.size, Number(s.outbox.pending_visits));
}

/** How often the app syncs by itself when it can reach the server. */
export const AUTO_SYNC_MS = 2 * 60 * 1000;

export type Screen = "signin" | "unlock" | "list" | "household" | "visit" | "send" | "propose";

export interface Ctx {
  api: Api;
  status: Status;
  go(screen: Screen, param?: string): void;
  /** Syncs in the background (one sync at a time: a second call joins the running one). The
   * app stays usable meanwhile: Rust holds the store only for each short store call. */
  sync(): Promise<SyncDone>;
  /** Whether a sync is running. */
  syncing(): boolean;
  /** Runs `flush` before this screen is left, the app locked or sent to the background: what
   * was typed is saved then, whatever a debounce was waiting for. */
  onLeave(flush: () => Promise<void>): void;
}

export class App {
  private status!: Status;
  private screen: Screen = "list";
  private param = "";
  /** The screen last asked for, and how many were asked for: a drawing that a later request
   * overtook while it awaited the store is dropped, so the last tap wins (a sync ending just
   * after a tap on another screen no longer draws the send screen over it). */
  private wanted: Screen = "list";
  private generation = 0;
  private running: Promise<SyncDone> | null = null;
  private leave: (() => Promise<void>) | null = null;

  constructor(private api: Api, private root: HTMLElement) {}

  async start(): Promise<void> {
    this.status = await this.api.status();
    setLang(this.status.lang);
    await this.show(this.status.unlocked ? "list" : this.status.signed_in ? "unlock" : "signin");
    window.setInterval(() => void this.autoSync(), AUTO_SYNC_MS);
    // Sticky bars only where the screen holds 40 lines of its text: at 200 % text size they
    // would cover half of it.
    const fit = () => {
      const line = parseFloat(getComputedStyle(document.documentElement).fontSize) || 16;
      document.documentElement.classList.toggle("tall-screen", window.innerHeight >= 40 * line);
    };
    fit();
    window.addEventListener("resize", fit);
    // A phone kills apps in the background: whatever is typed is saved as the app leaves view.
    document.addEventListener("visibilitychange", () => { if (document.hidden) void this.flush(); });
  }

  /** Saves the current screen's pending input (see `Ctx.onLeave`). */
  async flush(): Promise<void> {
    try { await this.leave?.(); } catch { /* the screen shows its own save error */ }
  }

  /** The one sync: the send button and the timer share it; the header shows it runs. */
  sync(): Promise<SyncDone> {
    if (this.running) return this.running;
    const run = this.syncRounds();
    this.running = run;
    this.paintSyncing();
    const done = () => { this.running = null; this.paintSyncing(); };
    // A sync that went through redraws the send screen if it shows (it may have been redrawn
    // meanwhile, by a submission); a failed one leaves its message where the button put it.
    run.then(() => { done(); if (this.wanted === "send") void this.show("send"); }, done);
    return run;
  }

  /** A sync, and one more round when work was queued while it ran (a batch submitted with a
   * quick tap just before "Kirim sekarang" reaches the phone's outbox after the sync took its
   * snapshot): "send" means what the phone holds when the sync ends, not when it began. */
  private async syncRounds(): Promise<SyncDone> {
    const first = await this.api.syncNow();
    const after = await this.api.syncState().catch(() => null);
    if (!after || after.outbox.pending_ops === 0) return first;
    // The first round's work reached the server whatever the second one meets.
    const second = await this.api.syncNow().catch(() => null);
    if (!second) return first;
    return {
      acked: first.acked + second.acked, rejected: first.rejected + second.rejected, photos: first.photos + second.photos,
      pulled: first.pulled + second.pulled, removed: first.removed + second.removed,
    };
  }

  private paintSyncing(): void {
    const el = this.root.querySelector("#sync-indicator");
    if (el) el.textContent = this.running ? t("send.syncing") : "";
  }

  /** Syncs in the background while unlocked; no signal is normal, so failures stay quiet. */
  async autoSync(): Promise<void> {
    if (!this.status?.unlocked || this.running) return;
    try {
      const r = await this.sync();
      // Households given to a colleague leave the list: say so in one line, and redraw the list.
      if (r.removed) toast(t("send.removed", { n: r.removed }));
      if (r.removed && this.screen === "list") await this.show(this.screen, this.param);
    } catch (e) {
      // Offline or the server is away: the next round tries again. A phone an admin had wiped
      // (after it sent everything) says so once and returns to the sign-in screen.
      if (isWiped(e)) {
        toast(errorMessage(e));
        await this.show("signin");
      }
    }
  }

  async show(screen: Screen, param = ""): Promise<void> {
    const generation = ++this.generation;
    this.wanted = screen;
    await this.flush();
    this.leave = null;
    this.status = await this.api.status();
    if (generation !== this.generation) return;
    if (!this.status.unlocked && screen !== "signin") screen = this.status.signed_in ? "unlock" : "signin";
    this.screen = screen;
    this.param = param;
    const ctx: Ctx = {
      api: this.api, status: this.status, go: (s, p) => void this.show(s, p),
      sync: () => this.sync(), syncing: () => this.running !== null, onLeave: (f) => { this.leave = f; },
    };
    let body: HTMLElement;
    try {
      body = await {
        signin: () => signInScreen(ctx),
        unlock: () => unlockScreen(ctx),
        list: () => listScreen(ctx),
        household: () => householdScreen(ctx, param),
        visit: () => visitScreen(ctx, param),
        send: () => sendScreen(ctx),
        propose: () => proposeScreen(ctx),
      }[screen]();
    } catch (e) {
      body = h("p", { class: "error", role: "alert" }, errorMessage(e));
    }
    const nav = await this.nav();
    if (generation !== this.generation) return;
    this.root.replaceChildren(this.header(), body, nav);
    this.root.dataset.screen = screen;
    this.root.focus({ preventScroll: true });
    // Every screen opens at its top, not at the last one's scroll position; the list returns to
    // the card that was opened.
    window.scrollTo?.(0, Number(body.dataset.scroll ?? 0));
  }

  private header(): HTMLElement {
    return h("header", { class: "top" },
      h("strong", {}, t("app.title")),
      h("span", { id: "sync-indicator", role: "status" }, this.running ? t("send.syncing") : ""),
      h("button", { type: "button", class: "quiet", id: "lang", onclick: () => void this.switchLang() }, t("lang.switch")));
  }

  private async nav(): Promise<HTMLElement | string> {
    if (!this.status.unlocked) return "";
    // The Kirim tab says how many visits wait on this phone (finished but not yet with the
    // supervisor, or sent back), so unsent work is never out of sight.
    const waiting = await this.api.syncState().then((s) => waitingVisits(s), () => 0);
    const item = (screen: Screen, label: string, id: string) =>
      h("button", { type: "button", id, "aria-current": this.screen === screen ? "page" : null, onclick: () => void this.show(screen) }, label);
    return h("nav", { class: "bottom" },
      item("list", t("nav.list"), "nav-list"),
      h("button", { type: "button", id: "nav-send", "aria-current": this.screen === "send" ? "page" : null, onclick: () => void this.show("send") },
        t("nav.send"), waiting ? h("span", { class: "count", id: "send-badge", "aria-label": t("send.badge", { n: waiting }) }, waiting) : null),
      h("button", { type: "button", id: "nav-lock", onclick: () => void this.lock() }, t("nav.lock")));
  }

  /** Locks after saving what the screen holds (a note typed just before "Kunci" is kept). */
  private async lock(): Promise<void> {
    await this.flush();
    this.leave = null;
    await this.api.lock();
    await this.show("unlock");
  }

  private async switchLang(): Promise<void> {
    try {
      const s = await this.api.setLang(this.status.lang === "en" ? "id" : "en");
      setLang(s.lang);
      await this.show(this.screen, this.param);
    } catch (e) {
      toast(errorMessage(e));
    }
  }
}
