// First sign-in (online, sets the PIN) and PIN unlock (offline, with lockout).
import { errorMessage } from "../api";
import type { Ctx } from "../app";
import { h } from "../dom";
import { lang, t } from "../i18n";

export async function signInScreen(ctx: Ctx): Promise<HTMLElement> {
  const server = await ctx.api.defaultServer();
  const err = h("p", { class: "error", role: "alert", id: "signin-error" });
  const input = (name: string, label: string, attrs: Record<string, string | boolean> = {}) =>
    h("label", {}, label, h("input", { name, id: name, required: true, ...attrs }));
  // Shown after `auth.password_change_required`: the password was a one-time one from an admin.
  const fresh = h("label", { id: "new-password-field", hidden: true }, t("signin.new_password"),
    h("input", { name: "new_password", id: "new_password", type: "password", autocomplete: "new-password", minlength: "10" }),
    h("span", { class: "muted" }, t("signin.new_password_help")));
  const form = h("form", { id: "signin", class: "stack" },
    h("h1", {}, t("signin.title")),
    h("p", { class: "muted" }, t("signin.help")),
    input("server", t("signin.server"), { value: server, inputmode: "url", autocomplete: "url" }),
    input("username", t("signin.username"), { autocomplete: "username", autocapitalize: "none" }),
    input("password", t("signin.password"), { type: "password", autocomplete: "current-password" }),
    fresh,
    input("pin", t("signin.pin"), { type: "password", inputmode: "numeric", maxlength: "6", autocomplete: "new-password" }),
    input("pin2", t("signin.pin2"), { type: "password", inputmode: "numeric", maxlength: "6", autocomplete: "new-password" }),
    h("button", { type: "submit", id: "signin-submit", class: "primary" }, t("signin.submit")),
    err) as HTMLFormElement;
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const v = (n: string) => (form.elements.namedItem(n) as HTMLInputElement).value;
    if (v("pin") !== v("pin2")) {
      err.textContent = t("signin.pin_mismatch");
      return;
    }
    err.textContent = t("signin.busy");
    try {
      await ctx.api.signIn(v("server"), v("username"), v("password"), v("pin"), fresh.hidden ? undefined : v("new_password"));
      ctx.go("list");
    } catch (x) {
      err.textContent = errorMessage(x);
      if ((x as { code?: string })?.code === "auth.password_change_required") {
        fresh.hidden = false;
        const input = form.elements.namedItem("new_password") as HTMLInputElement;
        input.required = true;
        input.focus();
      }
    }
  });
  return form;
}

export async function unlockScreen(ctx: Ctx): Promise<HTMLElement> {
  const s = ctx.status;
  const err = h("p", { class: "error", role: "alert", id: "unlock-error" },
    s.locked_until ? t("unlock.locked", { t: new Date(s.locked_until).toLocaleTimeString(lang() === "en" ? "en-GB" : "id-ID") }) : "");
  const pin = h("input", { id: "pin", name: "pin", type: "password", inputmode: "numeric", maxlength: "6", autocomplete: "off", required: true }) as HTMLInputElement;
  const form = h("form", { id: "unlock", class: "stack" },
    h("h1", {}, t("unlock.title")),
    s.username ? h("p", {}, s.username) : null,
    h("label", {}, t("unlock.pin"), pin),
    h("button", { type: "submit", id: "unlock-submit", class: "primary" }, t("unlock.submit")),
    err);
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    try {
      await ctx.api.unlock(pin.value);
      ctx.go("list");
    } catch (x) {
      err.textContent = errorMessage(x);
      pin.value = "";
      pin.focus();
    }
  });
  return form;
}
