// Verivali supervisor dashboard: one small module, no build step, no third-party code.
// Every text comes from /assets/messages.json (Bahasa Indonesia first, English switchable);
// the DOM is built with textContent only (never innerHTML with data).

const state = { me: null, csrf: "", lang: localStorage.getItem("vv.lang") || "id", msgs: {}, q: null, qQueue: [] };

// ------------------------------------------------------------------ helpers

function t(key, vars = {}) {
  const table = state.msgs[state.lang] || {};
  let s = table[key] ?? state.msgs.id?.[key] ?? key;
  for (const [k, v] of Object.entries(vars)) s = s.replace(`{${k}}`, String(v));
  return s;
}

function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (k === "class") el.className = v;
    else el.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of children.flat(Infinity)) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

const SVG = "http://www.w3.org/2000/svg";
function s(tag, attrs = {}, ...children) {
  const el = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  for (const c of children.flat(Infinity)) el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return el;
}

function toast(msg) {
  const el = document.getElementById("toast");
  el.textContent = msg;
  el.classList.add("show");
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => el.classList.remove("show"), 5000);
}

class ApiError extends Error {
  constructor(status, problem) {
    super(problem?.detail || problem?.title || String(status));
    this.status = status;
    this.problem = problem || {};
  }
}

async function api(path, opts = {}) {
  const headers = { "Accept-Language": state.lang, Accept: "application/json" };
  if (opts.body !== undefined) headers["Content-Type"] = "application/json";
  if (opts.method && opts.method !== "GET") headers["X-CSRF-Token"] = state.csrf;
  let r;
  try {
    r = await fetch(path, {
      method: opts.method || "GET",
      headers,
      credentials: "same-origin",
      body: opts.body === undefined ? undefined : JSON.stringify(opts.body),
    });
  } catch (e) {
    throw new ApiError(0, { detail: t("error.network") });
  }
  if (r.status === 204) return null;
  const body = await r.json().catch(() => null);
  if (!r.ok) {
    if (r.status === 401 && !path.startsWith("/api/v1/web/")) {
      state.me = null;
      toast(t("error.session"));
      render();
    }
    throw new ApiError(r.status, body);
  }
  return body;
}

function fmtTime(iso) {
  if (!iso) return "";
  const d = new Date(iso);
  return isNaN(d) ? iso : d.toLocaleString(state.lang === "en" ? "en-GB" : "id-ID", { dateStyle: "medium", timeStyle: "short" });
}

function badge(st) {
  return h("span", { class: `badge ${st}`, "data-state": st }, t(`state.${st}`));
}

function params() {
  const [path, query] = location.hash.slice(1).split("?");
  return { path: path || "/progress", query: new URLSearchParams(query || "") };
}

function go(hash) {
  if (location.hash === hash) render();
  else location.hash = hash;
}

const OUTCOMES = ["ditemukan", "tidak_ditemukan", "menolak", "ganda", "bagian_ruta_lain", "usulan_baru"];
const STATES = ["submitted", "approved", "rejected", "draft"];

// ------------------------------------------------------------------ frame

function frame(active) {
  const top = document.getElementById("top");
  top.hidden = !state.me;
  const nav = document.getElementById("nav");
  nav.replaceChildren();
  if (!state.me) return;
  const links = [["/progress", "nav.progress"], ["/queue", "nav.queue"], ["/batches", "nav.batches"], ["/export", "nav.export"]];
  if (state.me.role === "admin") links.push(["/audit", "nav.audit"]);
  for (const [path, key] of links) {
    nav.append(h("a", { href: `#${path}`, "aria-current": active === path ? "page" : null, id: `nav-${path.slice(1)}` }, t(key)));
  }
  document.getElementById("who").textContent = `${state.me.display_name} (${state.me.role})`;
  document.getElementById("signout").textContent = t("signout");
  document.getElementById("lang").textContent = t("lang.switch");
}

function page(title, ...content) {
  const main = document.getElementById("main");
  main.replaceChildren(h("h1", {}, title), ...content.flat().filter((c) => c !== null && c !== undefined && c !== false));
  document.title = `${title} — Verivali`;
}

// ------------------------------------------------------------------ screens

function signIn() {
  frame(null);
  const err = h("p", { class: "error", role: "alert", id: "signin-error" });
  const form = h("form", { class: "signin", id: "signin" },
    h("label", {}, t("signin.username"), h("input", { name: "username", id: "username", autocomplete: "username", required: true })),
    h("label", {}, t("signin.password"), h("input", { name: "password", id: "password", type: "password", autocomplete: "current-password", required: true })),
    h("button", { type: "submit", id: "signin-submit" }, t("signin.submit")),
    h("button", { type: "button", class: "quiet", onclick: switchLang }, t("lang.switch")),
    err);
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    err.textContent = "";
    try {
      const r = await api("/api/v1/web/session", { method: "POST", body: { username: form.username.value, password: form.password.value } });
      state.me = r.user;
      state.csrf = r.csrf;
      go("#/progress");
    } catch (x) {
      err.textContent = x.message;
    }
  });
  page(t("signin.title"), form);
  form.username.focus();
}

async function progress() {
  const p = await api("/api/v1/review/progress");
  state.progress = p;
  const cols = ["assigned", "visited", "draft", "submitted", "approved", "rejected"];
  const desaTable = h("table", { id: "progress-desa" },
    h("thead", {}, h("tr", {}, h("th", {}, t("progress.desa")), cols.map((c) => h("th", { class: "num" }, t(`progress.${c}`))))),
    h("tbody", {}, p.areas.map((a) => h("tr", {}, h("td", {}, a.kode_desa), cols.map((c) => h("td", { class: "num" }, a[c]))))));
  const enumTable = h("table", { id: "progress-enumerators" },
    h("thead", {}, h("tr", {}, h("th", {}, t("progress.enumerator")), cols.map((c) => h("th", { class: "num" }, t(`progress.${c}`))))),
    h("tbody", {}, p.enumerators.map((e) => h("tr", {},
      h("td", {}, h("a", { href: `#/queue?enumerator=${encodeURIComponent(e.enumerator.username)}` }, `${e.enumerator.display_name} (${e.enumerator.username})`)),
      cols.map((c) => h("td", { class: "num" }, e[c]))))));
  page(t("progress.title"), chart(p.areas), h("div", { class: "tablewrap" }, desaTable), h("h2", {}, t("progress.enumerator")), h("div", { class: "tablewrap" }, enumTable));
}

/** A stacked bar per desa: approved, waiting, sent back, draft, not yet visited. */
function chart(areas) {
  const parts = [["approved", "#1a7f37"], ["submitted", "#0b5cad"], ["rejected", "#b42318"], ["draft", "#8c959f"]];
  const rowH = 34, left = 110, width = 560;
  const svg = s("svg", { viewBox: `0 0 ${left + width + 10} ${areas.length * rowH + 40}`, role: "img", "aria-label": t("progress.chart"), id: "progress-chart", width: "100%" });
  areas.forEach((a, i) => {
    const y = i * rowH + 4;
    svg.append(s("text", { x: 0, y: y + 18 }, a.kode_desa));
    const total = Math.max(a.assigned, 1);
    svg.append(s("rect", { x: left, y, width, height: 24, fill: "#eef1f4", stroke: "#c8c8c8" }));
    let x = left;
    for (const [k, color] of parts) {
      const w = Math.min((a[k] / total) * width, left + width - x);
      if (w > 0) {
        svg.append(s("rect", { x, y, width: w, height: 24, fill: color }, s("title", {}, `${t(`progress.${k}`)}: ${a[k]}`)));
        x += w;
      }
    }
  });
  const ly = areas.length * rowH + 20;
  parts.forEach(([k, color], i) => {
    svg.append(s("rect", { x: left + i * 140, y: ly, width: 12, height: 12, fill: color }));
    svg.append(s("text", { x: left + i * 140 + 16, y: ly + 11 }, t(`progress.${k}`)));
  });
  return h("figure", {}, svg);
}

async function queue() {
  const { query } = params();
  if (!state.progress) state.progress = await api("/api/v1/review/progress").catch(() => ({ areas: [], enumerators: [] }));
  const opt = (v, label, sel) => h("option", { value: v, selected: sel === v }, label);
  const form = h("form", { class: "filters", id: "queue-filters" },
    h("label", {}, t("queue.area"), h("select", { name: "area", id: "filter-area" },
      opt("", t("queue.area.all"), query.get("area") || ""),
      state.progress.areas.map((a) => opt(a.kode_desa, a.kode_desa, query.get("area"))))),
    h("label", {}, t("queue.enumerator"), h("select", { name: "enumerator", id: "filter-enumerator" },
      opt("", t("queue.all"), query.get("enumerator") || ""),
      state.progress.enumerators.map((e) => opt(e.enumerator.username, e.enumerator.display_name, query.get("enumerator"))))),
    h("label", {}, t("queue.outcome"), h("select", { name: "outcome", id: "filter-outcome" },
      opt("", t("queue.all"), query.get("outcome") || ""),
      OUTCOMES.map((o) => opt(o, t(`outcome.${o}`), query.get("outcome"))))),
    h("label", {}, t("queue.state"), h("select", { name: "state", id: "filter-state" },
      STATES.map((st) => opt(st, t(`state.${st}`), query.get("state") || "submitted")))),
    h("button", { type: "submit", id: "filter-apply" }, t("queue.apply")));
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    const q = new URLSearchParams();
    for (const k of ["area", "enumerator", "outcome", "state"]) if (form[k].value) q.set(k, form[k].value);
    go(`#/queue?${q}`);
  });
  const tbody = h("tbody");
  const table = h("table", { id: "queue" },
    h("thead", {}, h("tr", {}, [t("queue.household"), t("progress.desa"), t("queue.enumerator"), t("queue.outcome"), t("queue.submitted_at"), t("queue.flags")].map((x) => h("th", {}, x)))),
    tbody);
  const more = h("button", { type: "button", class: "quiet", id: "queue-more", hidden: true }, t("queue.more"));
  const empty = h("p", { class: "muted", hidden: true, id: "queue-empty" }, t("queue.empty"));
  state.qQueue = [];
  let after = null;
  const load = async () => {
    const q = new URLSearchParams(query);
    q.set("limit", "50");
    if (after) q.set("after", after);
    const list = await api(`/api/v1/review/visits?${q}`);
    for (const v of list.visits) {
      state.qQueue.push(v.found.visit_id);
      const flags = [];
      if (v.other_visits.length) flags.push(t("flag.two_visits"));
      if (v.photos.some((p) => !p.present)) flags.push(t("flag.photo_missing"));
      if (v.conflicts.length) flags.push(t("flag.conflicts"));
      tbody.append(h("tr", { "data-visit": v.found.visit_id },
        h("td", {}, h("a", { href: `#/visit/${v.found.visit_id}`, class: "visit-link" }, v.found.household.nama_krt || "—"), h("div", { class: "muted" }, v.found.household.alamat)),
        h("td", {}, v.kode_desa),
        h("td", {}, v.enumerator.display_name),
        h("td", {}, t(`outcome.${v.found.outcome}`)),
        h("td", {}, fmtTime(v.submitted_at)),
        h("td", { class: "flag" }, flags.join(" · "))));
    }
    after = list.next_after;
    more.hidden = !after;
    empty.hidden = state.qQueue.length > 0;
  };
  more.addEventListener("click", load);
  await load();
  page(t("queue.title"), form, h("div", { class: "tablewrap" }, table), empty, more);
}

async function visit(id) {
  const [v, qn] = await Promise.all([api(`/api/v1/review/visits/${id}`), questionnaire()]);
  const f = v.found;
  const b = v.baseline;
  const fields = ["no_kk", "nama_krt", "alamat", "rt", "rw"];
  const conflict = new Map(v.conflicts.map((c) => [c.field.replace("household.", ""), c]));
  const compare = h("table", { id: "compare" },
    h("thead", {}, h("tr", {}, h("th", {}, t("visit.field")), h("th", {}, t("visit.baseline")), h("th", {}, t("visit.found")))),
    h("tbody", {}, fields.map((k) => {
      const base = b ? (b[k] ?? "") : "";
      const found = f.household[k] ?? "";
      return h("tr", { class: b && String(base) !== String(found) ? "changed" : null, "data-field": k },
        h("th", { scope: "row" }, t(`field.${k}`)), h("td", {}, base), h("td", {}, found));
    })));
  const resolutions = h("div", { id: "conflicts" });
  if (v.conflicts.length && v.state === "submitted") {
    resolutions.append(h("p", { class: "flag" }, t("visit.conflicts")));
    for (const c of v.conflicts) {
      const name = `res-${c.field}`;
      resolutions.append(h("fieldset", {}, h("legend", {}, t(`field.${c.field.replace("household.", "")}`)),
        h("label", {}, h("input", { type: "radio", name, value: "found", checked: true }), `${t("visit.keep_found")}: ${c.found ?? ""}`),
        h("label", {}, h("input", { type: "radio", name, value: "current" }), `${t("visit.keep_current")}: ${c.current ?? ""}`)));
    }
  }
  const baseById = new Map((v.baseline_members || []).map((m) => [m.member_id, m]));
  const members = h("table", { id: "members" },
    h("thead", {}, h("tr", {}, ["member.nik", "member.name", "member.sex", "member.birth", "member.relationship", "member.status"].map((k) => h("th", {}, t(k))))),
    h("tbody", {}, f.members.map((m) => {
      const old = baseById.get(m.member_id);
      const changed = !old || old.nik !== m.nik || old.name !== m.name || m.status !== "tinggal";
      return h("tr", { class: changed ? "changed" : null },
        h("td", {}, m.nik || "—", old && old.nik !== m.nik ? h("div", { class: "muted" }, old.nik || "—") : null),
        h("td", {}, m.name, !old ? h("span", { class: "badge" }, t("member.new")) : null, old && old.name !== m.name ? h("div", { class: "muted" }, old.name) : null),
        h("td", {}, m.sex), h("td", {}, m.birth_date || ""), h("td", {}, m.relationship), h("td", {}, m.status));
    })));
  const labels = new Map();
  for (const sec of qn?.sections || []) for (const q of sec.questions) labels.set(q.id, q);
  const answers = h("table", { id: "answers" }, h("tbody", {}, Object.entries(f.answers).map(([k, val]) => {
    const q = labels.get(k);
    const label = q ? q.label[state.lang] || q.label.id : k;
    const show = (x) => { const c = q?.choices?.find((c) => c.code === String(x)); return c ? c.label[state.lang] || c.label.id : String(x); };
    return h("tr", {}, h("th", { scope: "row" }, label), h("td", {}, Array.isArray(val) ? val.map(show).join(", ") : typeof val === "boolean" ? (val ? "✓" : "✗") : show(val)));
  })));
  const photos = h("div", { class: "photos", id: "photos" }, v.photos.length ? v.photos.map((p) => p.present
    ? h("img", { src: `/api/v1/review/visits/${id}/photos/${p.sha256}`, alt: `${t("visit.photos")} ${p.sha256.slice(-8)}` })
    : h("p", { class: "flag" }, `${t("visit.photo_missing")} (${p.sha256.slice(-8)}…)`)) : h("p", { class: "muted" }, "—"));
  const history = v.reviews.length
    ? h("ul", { id: "history" }, v.reviews.map((r) => h("li", {}, `${fmtTime(r.at)} · ${r.reviewer} · ${t(`visit.${r.decision === "reject" ? "reject" : r.decision}`)}`, r.reason ? ` — ${r.reason}` : "")))
    : h("p", { class: "muted", id: "history" }, t("visit.no_history"));
  const others = v.other_visits.length
    ? h("p", { class: "flag", id: "other-visits" }, `${t("visit.other_visits")}: `, v.other_visits.map((o, i) => [i ? ", " : "", h("a", { href: `#/visit/${o}` }, o.slice(-8))]))
    : null;

  const reason = h("textarea", { id: "reason", name: "reason", "aria-label": t("visit.reason") });
  const out = h("p", { role: "status", id: "decision-result" });
  const decide = async (decision) => {
    const body = { decision, reason: reason.value.trim() || null, resolutions: {} };
    for (const c of v.conflicts) {
      const picked = resolutions.querySelector(`input[name="res-${c.field}"]:checked`);
      if (picked) body.resolutions[c.field] = picked.value;
    }
    try {
      const r = await api(`/api/v1/review/visits/${id}/decision`, { method: "POST", body });
      toast(t("visit.decided", { state: t(`state.${r.state}`) }));
      const i = state.qQueue.indexOf(id);
      const next = i >= 0 ? state.qQueue[i + 1] : null;
      go(next ? `#/visit/${next}` : `#/visit/${id}`);
    } catch (x) {
      out.className = "error";
      out.textContent = x.message;
    }
  };
  const actions = h("div", { class: "card", id: "decide" });
  if (v.state === "submitted") {
    actions.append(h("label", {}, t("visit.reason"), reason), h("div", { class: "actions" },
      h("button", { type: "button", class: "ok", id: "approve", onclick: () => decide("approve") }, t("visit.approve")),
      h("button", { type: "button", class: "bad", id: "reject", onclick: () => decide("reject") }, t("visit.reject"))),
      h("p", { class: "muted" }, t("visit.keys")), out);
  } else if (v.state === "approved" && state.me.role === "admin") {
    reason.setAttribute("aria-label", t("visit.reason_reopen"));
    actions.append(h("label", {}, t("visit.reason_reopen"), reason), h("div", { class: "actions" },
      h("button", { type: "button", id: "reopen", onclick: () => decide("reopen") }, t("visit.reopen"))), out);
  } else {
    actions.append(badge(v.state));
  }
  visit.keys = (e) => {
    if (e.target.matches("input, textarea, select")) { if (e.key === "Escape") e.target.blur(); return; }
    if (e.key === "a" && v.state === "submitted") { e.preventDefault(); decide("approve"); }
    else if (e.key === "r") { e.preventDefault(); reason.focus(); }
    else if (e.key === "Escape") go("#/queue");
  };
  page(`${t("visit.title")}: ${f.household.nama_krt || f.visit_id.slice(-8)}`,
    h("p", {}, badge(v.state), " ", h("a", { href: "#/queue", id: "back" }, t("visit.back"))),
    h("p", {}, `${t("visit.enumerator")}: ${v.enumerator.display_name} · ${t("visit.outcome")}: ${t(`outcome.${f.outcome}`)}`,
      f.outcome_reason ? ` · ${t("visit.reason_found")}: ${f.outcome_reason}` : "", ` · ${v.kode_desa}`),
    others,
    h("div", { class: "cols" },
      h("section", { class: "card" }, h("h2", {}, `${t("visit.baseline")} ↔ ${t("visit.found")}`), compare, resolutions),
      h("section", { class: "card" }, h("h2", {}, t("visit.gps")), gpsPlot(f.gps))),
    h("section", {}, h("h2", {}, t("visit.members")), h("div", { class: "tablewrap" }, members)),
    h("div", { class: "cols" },
      h("section", {}, h("h2", {}, t("visit.answers")), answers),
      h("section", {}, h("h2", {}, t("visit.photos")), photos)),
    h("section", {}, h("h2", {}, t("visit.history")), history),
    actions);
}

/** The fix as a point inside its accuracy circle, with a scale bar: no map tiles needed. */
function gpsPlot(gps) {
  if (!gps) return h("p", { class: "muted", id: "gps" }, t("visit.gps_none"));
  const size = 240, c = size / 2;
  const radiusM = Math.max(gps.accuracy_m, 1);
  const scale = (c - 20) / Math.max(radiusM * 1.5, 20); // px per metre
  const bar = [10, 20, 50, 100, 200, 500, 1000].find((m) => m * scale >= 40) || 1000;
  return h("figure", { id: "gps" },
    s("svg", { viewBox: `0 0 ${size} ${size}`, width: size, height: size, role: "img", "aria-label": `${gps.lat.toFixed(6)}, ${gps.lon.toFixed(6)}` },
      s("rect", { x: 0, y: 0, width: size, height: size, fill: "#f3f5f7", stroke: "#c8c8c8" }),
      s("line", { x1: c, y1: 8, x2: c, y2: size - 8, stroke: "#c8c8c8" }),
      s("line", { x1: 8, y1: c, x2: size - 8, y2: c, stroke: "#c8c8c8" }),
      s("text", { x: c + 4, y: 18 }, "U / N"),
      s("circle", { cx: c, cy: c, r: radiusM * scale, fill: "#0b5cad22", stroke: "#0b5cad" }),
      s("circle", { cx: c, cy: c, r: 5, fill: "#b42318" }),
      s("line", { x1: 12, y1: size - 14, x2: 12 + bar * scale, y2: size - 14, stroke: "#111", "stroke-width": 3 }),
      s("text", { x: 12, y: size - 20 }, `${bar} m`)),
    h("figcaption", {}, `${gps.lat.toFixed(6)}, ${gps.lon.toFixed(6)} · ${t("visit.gps_accuracy", { m: Math.round(gps.accuracy_m) })} · ${fmtTime(gps.at)}`));
}

async function questionnaire() {
  if (!state.q) state.q = await api("/api/v1/questionnaire").catch(() => null);
  return state.q;
}

async function batches() {
  const list = await api("/api/v1/review/batches");
  const result = h("p", { role: "status", id: "batch-result" });
  const rows = list.batches.map((b) => {
    const waiting = b.states.submitted || 0;
    return h("tr", { "data-batch": b.batch_id },
      h("td", {}, fmtTime(b.created_at), h("div", { class: "muted" }, b.batch_id.slice(-8))),
      h("td", {}, b.enumerator.display_name),
      h("td", { class: "num" }, b.visit_count),
      h("td", {}, Object.entries(b.states).map(([k, n]) => [badge(k), ` ${n} `])),
      h("td", {},
        h("a", { class: "button quiet", href: `#/queue?batch=${b.batch_id}&state=submitted` }, t("nav.queue")), " ",
        waiting ? h("button", { type: "button", class: "ok approve-batch", onclick: async (e) => {
          e.target.disabled = true;
          try {
            const r = await api(`/api/v1/review/batches/${b.batch_id}/approve`, { method: "POST" });
            const bad = r.results.filter((x) => x.error);
            result.className = bad.length ? "flag" : "";
            result.replaceChildren(t("batches.result", { ok: r.results.length - bad.length, bad: bad.length }),
              h("ul", {}, bad.map((x) => h("li", {}, h("a", { href: `#/visit/${x.visit_id}` }, x.visit_id.slice(-8)), `: ${x.error.message}`))));
            const keep = result;
            await batches();
            document.getElementById("batch-result").replaceWith(keep);
          } catch (x) {
            result.className = "error";
            result.textContent = x.message;
          }
        } }, t("batches.approve_all")) : null));
  });
  page(t("batches.title"), result, list.batches.length
    ? h("div", { class: "tablewrap" }, h("table", { id: "batches" },
        h("thead", {}, h("tr", {}, [t("batches.when"), t("queue.enumerator"), t("batches.count"), t("batches.states"), ""].map((x) => h("th", {}, x)))),
        h("tbody", {}, rows)))
    : h("p", { class: "muted" }, t("batches.empty")));
}

async function exportPage() {
  if (!state.progress) state.progress = await api("/api/v1/review/progress").catch(() => ({ areas: [] }));
  const area = h("select", { id: "export-area", name: "area" }, h("option", { value: "" }, t("queue.area.all")),
    state.progress.areas.map((a) => h("option", { value: a.kode_desa }, a.kode_desa)));
  const link = (fmt) => {
    const a = h("a", { class: "button", id: `export-${fmt}`, download: "" }, t(`export.${fmt}`));
    const update = () => {
      const q = new URLSearchParams({ state: "approved" });
      if (area.value) q.set("area", area.value);
      a.setAttribute("href", `/api/v1/export/visits.${fmt}?${q}`);
    };
    area.addEventListener("change", update);
    update();
    return a;
  };
  page(t("export.title"), h("p", {}, t("export.help")),
    h("div", { class: "actions" }, h("label", {}, t("queue.area"), area), link("csv"), link("xlsx")));
}

async function audit() {
  const { query } = params();
  const q = new URLSearchParams({ limit: "100" });
  if (query.get("before")) q.set("before", query.get("before"));
  if (query.get("action")) q.set("action", query.get("action"));
  const log = await api(`/api/v1/admin/audit?${q}`);
  const action = h("input", { name: "action", id: "audit-action", value: query.get("action") || "", list: "audit-actions" });
  const form = h("form", { class: "filters" }, h("label", {}, t("audit.action"), action),
    h("datalist", { id: "audit-actions" }, ["review.list", "review.view", "review.photo", "review.decision", "export.visits", "sync.pull", "session.create", "session.create_web", "session.failed"].map((a) => h("option", { value: a }))),
    h("button", { type: "submit" }, t("queue.apply")));
  form.addEventListener("submit", (e) => { e.preventDefault(); go(`#/audit?action=${encodeURIComponent(action.value)}`); });
  const table = h("table", { id: "audit" },
    h("thead", {}, h("tr", {}, ["audit.at", "audit.user", "audit.action", "audit.entity", "audit.detail", "audit.address"].map((k) => h("th", {}, t(k))))),
    h("tbody", {}, log.entries.map((e) => h("tr", {},
      h("td", {}, fmtTime(e.at)), h("td", {}, e.username || "—"), h("td", {}, e.action),
      h("td", {}, e.entity_kind ? `${e.entity_kind} ${e.entity_id || ""}` : ""), h("td", {}, e.detail || ""), h("td", {}, e.address || "")))));
  const older = log.next_before
    ? h("a", { class: "button quiet", href: `#/audit?before=${log.next_before}&action=${encodeURIComponent(query.get("action") || "")}` }, t("audit.older"))
    : null;
  page(t("audit.title"), form, h("div", { class: "tablewrap" }, table), older);
}

// ------------------------------------------------------------------ router

async function render() {
  visit.keys = null;
  if (!state.me) return signIn();
  const { path } = params();
  const [, screen, arg] = path.split("/");
  frame(`/${screen}`);
  try {
    if (screen === "queue") await queue();
    else if (screen === "visit" && arg) await visit(arg);
    else if (screen === "batches") await batches();
    else if (screen === "export") await exportPage();
    else if (screen === "audit") await audit();
    else await progress();
    document.getElementById("main").focus({ preventScroll: true });
  } catch (x) {
    if (state.me) page(t("title"), h("p", { class: "error", role: "alert" }, x.message));
  }
}

function switchLang() {
  state.lang = state.lang === "id" ? "en" : "id";
  localStorage.setItem("vv.lang", state.lang);
  document.documentElement.lang = state.lang;
  render();
}

async function start() {
  state.msgs = await (await fetch("/assets/messages.json")).json();
  document.documentElement.lang = state.lang;
  document.getElementById("lang").addEventListener("click", switchLang);
  document.getElementById("signout").addEventListener("click", async () => {
    await api("/api/v1/web/session", { method: "DELETE" }).catch(() => null);
    state.me = null;
    state.csrf = "";
    go("#/");
  });
  document.addEventListener("keydown", (e) => visit.keys && visit.keys(e));
  window.addEventListener("hashchange", render);
  try {
    const me = await api("/api/v1/web/me");
    state.me = me.user;
    state.csrf = me.csrf;
  } catch (_) {
    state.me = null;
  }
  render();
}

start();
