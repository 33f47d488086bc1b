// The app shell: which screen shows, the bottom navigation, language. Screens are functions of a
// context, so tests can mount any of them with a fake Api.
import type { Api, Status } from "./api";
import { errorMessage, isWiped } from "./api";
import { h, toast } from "./dom";
import { setLang, t } from "./i18n";
import { signInScreen, unlockScreen } from "./screens/signin";
import { listScreen } from "./screens/list";
import { householdScreen } from "./screens/household";
import { visitScreen } from "./screens/visit";
import { sendScreen } from "./screens/send";

/** How often the app syncs by itself when it can reach the server. */
export const AUTO_SYNC_MS = 2 * 60 * 1000;

export type Screen = "signin" | "unlock" | "list" | "household" | "visit" | "send";

export interface Ctx {
  api: Api;
  status: Status;
  go(screen: Screen, param?: string): void;
}

export class App {
  private status!: Status;
  private screen: Screen = "list";
  private param = "";
  private syncing = false;

  constructor(private api: Api, private root: HTMLElement) {}

  async start(): Promise<void> {
    this.status = await this.api.status();
    setLang(this.status.lang);
    await this.show(this.status.unlocked ? "list" : this.status.signed_in ? "unlock" : "signin");
    window.setInterval(() => void this.autoSync(), AUTO_SYNC_MS);
  }

  /** Syncs in the background while unlocked; no signal is normal, so failures stay quiet. */
  async autoSync(): Promise<void> {
    if (!this.status?.unlocked || this.syncing) return;
    this.syncing = true;
    try {
      const r = await this.api.syncNow();
      // Households given to a colleague leave the list: say so in one line, and redraw the list.
      if (r.removed) toast(t("send.removed", { n: r.removed }));
      if (this.screen === "send" || (r.removed && this.screen === "list")) await this.show(this.screen, this.param);
    } catch (e) {
      // Offline or the server is away: the next round tries again. A phone an admin had wiped
      // (after it sent everything) says so once and returns to the sign-in screen.
      if (isWiped(e)) {
        toast(errorMessage(e));
        await this.show("signin");
      }
    } finally {
      this.syncing = false;
    }
  }

  async show(screen: Screen, param = ""): Promise<void> {
    this.status = await this.api.status();
    if (!this.status.unlocked && screen !== "signin") screen = this.status.signed_in ? "unlock" : "signin";
    this.screen = screen;
    this.param = param;
    const ctx: Ctx = { api: this.api, status: this.status, go: (s, p) => void this.show(s, p) };
    let body: HTMLElement;
    try {
      body = await {
        signin: () => signInScreen(ctx),
        unlock: () => unlockScreen(ctx),
        list: () => listScreen(ctx),
        household: () => householdScreen(ctx, param),
        visit: () => visitScreen(ctx, param),
        send: () => sendScreen(ctx),
      }[screen]();
    } catch (e) {
      body = h("p", { class: "error", role: "alert" }, errorMessage(e));
    }
    this.root.replaceChildren(this.header(), body, this.nav());
    this.root.dataset.screen = screen;
    this.root.focus({ preventScroll: true });
    // Every screen opens at its top, not at the last one's scroll position.
    window.scrollTo?.(0, 0);
  }

  private header(): HTMLElement {
    return h("header", { class: "top" },
      h("strong", {}, t("app.title")),
      h("button", { type: "button", class: "quiet", id: "lang", onclick: () => void this.switchLang() }, t("lang.switch")));
  }

  private nav(): HTMLElement | string {
    if (!this.status.unlocked) return "";
    const item = (screen: Screen, label: string, id: string) =>
      h("button", { type: "button", id, "aria-current": this.screen === screen ? "page" : null, onclick: () => void this.show(screen) }, label);
    return h("nav", { class: "bottom" },
      item("list", t("nav.list"), "nav-list"),
      item("send", t("nav.send"), "nav-send"),
      h("button", { type: "button", id: "nav-lock", onclick: () => void this.api.lock().then(() => this.show("unlock")) }, t("nav.lock")));
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
