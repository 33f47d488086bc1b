// Component tests with a fake Api (no Rust behind it): what each screen shows and calls.
import { beforeEach, describe, expect, it, vi } from "vitest";
import type { Api, HouseholdDetail, HouseholdRow, OpenVisit, Questionnaire, Status, SyncState } from "../src/api";
import type { Ctx } from "../src/app";
import { messages, setLang, t } from "../src/i18n";
import { assignmentLine, listScreen, windowed } from "../src/screens/list";
import { signInScreen, unlockScreen } from "../src/screens/signin";
import { answerValue, issuesAt, visitScreen } from "../src/screens/visit";
import { sendScreen } from "../src/screens/send";
import { householdScreen, localTime } from "../src/screens/household";
import { outcomeTerm, vocab } from "../src/vocabulary";

const status: Status = { signed_in: true, unlocked: true, username: "petugas", attempts_left: 5, locked_until: null, lang: "id" };
const row = (id: string, status: HouseholdRow["status"], nama = `KRT ${id}`): HouseholdRow =>
  ({ id, id_dtsen: null, no_kk: null, nama_krt: nama, alamat: "Dusun Contoh", desil: 1, members: 3, status, proposed: false, assignment: null, withdrawn: false, matched: null });

function fakeApi(over: Partial<Api> = {}): Api {
  const fail = () => Promise.reject(new Error("not in this test"));
  return {
    status: async () => status, defaultServer: async () => "http://127.0.0.1:8080", setLang: async () => status,
    signIn: fail, unlock: fail, lock: async () => status, signOut: fail, assignments: async () => [], progress: async () => ({ done: 0, total: 0 }),
    renewSession: fail, household: fail, questionnaire: fail, openVisit: fail, saveDraft: fail, discardDraft: fail, finishVisit: fail, addPhoto: fail,
    submit: fail, syncState: fail, syncNow: fail, ...over,
  } as Api;
}

function ctx(api: Api, go = vi.fn()): Ctx {
  return { api, status, go, sync: () => api.syncNow(), syncing: () => false, onLeave: () => {} };
}

beforeEach(() => setLang("id"));

describe("assignments in the list", () => {
  it("say why and by when, and mark overdue work that is not sent", () => {
    const mine = { ...row("a", "not_visited"), assignment: { due_date: "2026-12-05", source: "laporan_kematian" as const, note: null } };
    expect(assignmentLine(mine, "2026-12-01")?.textContent).toBe("Laporan kematian · tenggat 2026-12-05");
    const late = assignmentLine(mine, "2026-12-06");
    expect(late?.className).toBe("assignment overdue");
    expect(late?.textContent).toContain("lewat tenggat 2026-12-05");
    expect(assignmentLine({ ...mine, status: "submitted" }, "2026-12-06")?.className).toBe("assignment");
    expect(assignmentLine(row("b", "not_visited"))).toBeNull();
  });
  it("filter by source through the Rust query", async () => {
    const assignments = vi.fn(async () => []);
    const el = await listScreen(ctx(fakeApi({ assignments })));
    const select = el.querySelector("#source-filter") as HTMLSelectElement;
    expect(select.options.length).toBe(vocab.assignment_sources.length + 1);
    select.value = "sanggah";
    select.dispatchEvent(new Event("change"));
    await new Promise((r) => setTimeout(r, 0));
    expect(assignments).toHaveBeenLastCalledWith(expect.objectContaining({ source: "sanggah" }));
  });
});

describe("the period's cut-off", () => {
  it("warns on the list, from days before to the day itself", async () => {
    const soon = await listScreen(ctx(fakeApi({ progress: async () => ({ done: 0, total: 3, cutoff: { period: "2026-12", cutoff: "2026-12-20", days_left: 2 } }) })));
    const warn = soon.querySelector("#cutoff")!;
    expect(warn.getAttribute("role")).toBe("status");
    expect(warn.textContent).toContain("Batas periode 2026-12: 2 hari lagi (2026-12-20)");
    const today = await listScreen(ctx(fakeApi({ progress: async () => ({ done: 0, total: 3, cutoff: { period: "2026-12", cutoff: "2026-12-20", days_left: 0 } }) })));
    expect(today.querySelector("#cutoff")!.textContent).toContain("Hari ini batas periode 2026-12");
  });
});

describe("messages", () => {
  it("has every key in both languages, none empty", () => {
    expect(Object.keys(messages.en).sort()).toEqual(Object.keys(messages.id).sort());
    for (const table of [messages.id, messages.en]) for (const v of Object.values(table)) expect(v.trim()).not.toBe("");
  });
  it("switches to English and fills placeholders", () => {
    setLang("en");
    expect(t("progress", { done: 2, total: 5 })).toBe("2 of 5 done");
    setLang("id");
    expect(t("progress", { done: 2, total: 5 })).toBe("2 dari 5 selesai");
  });
});

describe("rules the form relies on", () => {
  it("finds issues under a path", () => {
    const issues = [{ code: "nik.format", at: "members[1].nik", message: "x", error: true }, { code: "y", at: "members[10].nik", message: "y", error: true }];
    expect(issuesAt(issues, "members[1]").map((i) => i.code)).toEqual(["nik.format"]);
  });
  it("turns form values into typed answers", () => {
    expect(answerValue({ id: "a", type: "int", label: { id: "", en: "" }, required: false }, "12")).toBe(12);
    expect(answerValue({ id: "a", type: "int", label: { id: "", en: "" }, required: false }, "")).toBeNull();
    expect(answerValue({ id: "a", type: "yes_no", label: { id: "", en: "" }, required: false }, true)).toBe(true);
    expect(answerValue({ id: "a", type: "multi_choice", label: { id: "", en: "" }, required: false }, ["1", "3"])).toEqual(["1", "3"]);
  });
});

describe("unlock", () => {
  it("shows the error in the app's language and clears the PIN", async () => {
    const api = fakeApi({ unlock: () => Promise.reject({ code: "store.wrong_pin", message: "PIN salah; sisa 4 kali percobaan" }) });
    const el = await unlockScreen(ctx(api));
    document.body.replaceChildren(el);
    const pin = el.querySelector<HTMLInputElement>("#pin")!;
    pin.value = "111111";
    el.dispatchEvent(new Event("submit"));
    await vi.waitFor(() => expect(el.querySelector("#unlock-error")!.textContent).toContain("sisa 4"));
    expect(pin.value).toBe("");
  });
});

describe("assignment list", () => {
  it("groups by RT, shows progress, and searches through the Api", async () => {
    const calls: unknown[] = [];
    const api = fakeApi({
      progress: async () => ({ done: 1, total: 2 }),
      assignments: async (q) => {
        calls.push(q);
        const all = [row("1", "finished", "Ani"), row("2", "not_visited", "Budi")];
        const hits = q.text ? all.filter((r) => r.nama_krt.includes(q.text!)) : all;
        return [{ kode_desa: "3308012001", nama_desa: "Desa Sukamaju", rw: "001", rt: "002", households: hits }];
      },
    });
    const go = vi.fn();
    const el = await listScreen(ctx(api, go));
    document.body.replaceChildren(el);
    expect(el.querySelector("#progress")!.textContent).toBe("1 dari 2 selesai");
    expect(el.querySelector("#cutoff"), "no period near its cut-off: no warning").toBeNull();
    expect(el.querySelectorAll("[data-household]").length).toBe(2);
    expect(el.querySelector("h2")!.textContent).toBe("RT 002 / RW 001 · Desa Sukamaju (3308012001)");
    const search = el.querySelector<HTMLInputElement>("#search")!;
    search.value = "Budi";
    search.dispatchEvent(new Event("input"));
    await vi.waitFor(() => expect(el.querySelectorAll("[data-household]").length).toBe(1));
    expect(calls[calls.length - 1]).toMatchObject({ text: "Budi" });
    el.querySelector<HTMLButtonElement>("[data-household]")!.click();
    expect(go).toHaveBeenCalledWith("household", "2");
  });
});

const qn: Questionnaire = {
  id: "q", version: 1, title: { id: "Q", en: "Q" },
  sections: [{ id: "s", title: { id: "Bagian", en: "Section" }, questions: [
    { id: "punya_ternak", type: "yes_no", label: { id: "Punya ternak?", en: "Livestock?" }, required: false },
    { id: "jumlah_ternak", type: "int", label: { id: "Jumlah ternak", en: "How many" }, required: false },
    { id: "atap", type: "single_choice", label: { id: "Kondisi atap", en: "Roof" }, required: false,
      choices: [{ code: "1", label: { id: "Bagus", en: "Good" } }, { code: "2", label: { id: "Jelek", en: "Bad" } }] },
    { id: "lantai", type: "single_choice", label: { id: "Lantai", en: "Floor" }, required: false,
      choices: ["1", "2", "3", "4", "5", "6", "7"].map((c) => ({ code: c, label: { id: `Jenis ${c}`, en: `Kind ${c}` } })) },
  ] }],
};

function openVisit(relevant: string[]): OpenVisit {
  return {
    state: "draft", finished: false, draft: { issues: [], relevant }, returned_reason: null,
    record: {
      visit_id: "v1", household_id: "h1", baseline_version: 1, revision: 0, outcome: "ditemukan", outcome_reason: null, reference_household_id: null,
      household: { no_kk: null, nama_krt: "Ani", alamat: "Dusun", rt: "001", rw: "002", kode_desa: "3308012001" },
      members: [{ member_id: "m1", nik: "3308", name: "Ani", sex: "P", birth_place: null, birth_date: "1980-01-01", relationship: 1, status: "tinggal" }],
      questionnaire_version: 1, answers: {}, gps: null, photos: [], started_at: "2026-11-22T00:00:00Z", finished_at: null,
    },
  };
}

describe("visit form", () => {
  it("hides questions that do not apply and autosaves what is typed, showing the issues", async () => {
    const saved: unknown[] = [];
    const api = fakeApi({
      openVisit: async () => openVisit(["punya_ternak"]),
      questionnaire: async () => qn,
      saveDraft: async (v) => {
        saved.push(structuredClone(v));
        return { relevant: ["punya_ternak", "jumlah_ternak"], issues: [
          { code: "nik.format", at: "members[0].nik", message: "NIK harus 16 angka", error: true },
          { code: "answer.range", at: "answers.jumlah_ternak", message: "Jawaban “Jumlah ternak” harus antara 0 dan 99", error: true },
          { code: "answer.required", at: "answers.punya_ternak", message: "wajib", error: true },
        ] };
      },
    });
    const el = await visitScreen(ctx(api), "h1");
    document.body.replaceChildren(el);
    expect((el.querySelector('[data-row="jumlah_ternak"]') as HTMLElement).hidden).toBe(true);
    // Yes/no is two buttons: one tap.
    el.querySelector<HTMLButtonElement>('[data-question="punya_ternak"] button[value="true"]')!.click();
    expect(el.querySelector('[data-question="punya_ternak"] button[value="true"]')!.getAttribute("aria-checked")).toBe("true");
    await vi.waitFor(() => expect(saved.length).toBe(1), { timeout: 2000 });
    expect((saved[0] as { answers: Record<string, unknown> }).answers.punya_ternak).toBe(true);
    await vi.waitFor(() => expect((el.querySelector('[data-row="jumlah_ternak"]') as HTMLElement).hidden).toBe(false));
    expect(el.querySelector('[data-at="members[0].nik"]')!.textContent).toBe("NIK harus 16 angka");
    // Under its own question (the issue's path is answers.<id>), in words.
    expect(el.querySelector('[data-row="jumlah_ternak"] .field-issue')!.textContent).toContain("“Jumlah ternak”");
    // "Required" waits until the field is left or finishing is tried; the bar counts the rest.
    expect(el.querySelector('[data-at="answers.punya_ternak"]')!.textContent).toBe("");
    expect(el.querySelector("#issues")!.textContent).toBe("2 isian perlu diperbaiki");
    expect((el.querySelector("#next-issue") as HTMLElement).hidden).toBe(false);
  });

  /** The form of a visit holding one document photo (`sha`), with every autosave kept. */
  async function formWithDocument<T>(sha: string): Promise<{ el: HTMLElement; saved: T[] }> {
    const saved: T[] = [];
    const open = openVisit(["punya_ternak"]);
    open.record.photos = [sha];
    open.record.photo_kinds = { [sha]: "dokumen" };
    const api = fakeApi({
      openVisit: async () => open,
      questionnaire: async () => qn,
      saveDraft: async (v) => { saved.push(structuredClone(v as T)); return { relevant: ["punya_ternak"], issues: [] }; },
    });
    const el = await visitScreen(ctx(api), "h1");
    document.body.replaceChildren(el);
    return { el, saved };
  }

  it("records a graduation with its letter among the visit's photos, only for a household found", async () => {
    const { el, saved } = await formWithDocument<{ graduation?: { kind: string; letter_photo: string | null } }>("cd".repeat(32));
    const kind = el.querySelector<HTMLSelectElement>("#graduation-kind")!;
    expect([...kind.options].map((o) => o.value)).toEqual(["", "mandiri", "alami", "paksa"]);
    expect(el.querySelector("#graduation-letter")).toBeNull();
    kind.value = "alami";
    kind.dispatchEvent(new Event("change"));
    const letter = el.querySelector<HTMLSelectElement>("#graduation-letter")!;
    letter.value = "cd".repeat(32);
    letter.dispatchEvent(new Event("change"));
    await vi.waitFor(() => expect(saved[saved.length - 1]?.graduation).toEqual({ kind: "alami", letter_photo: "cd".repeat(32) }), { timeout: 2000 });
    // Another outcome: no graduation.
    const outcome = el.querySelector<HTMLSelectElement>("#outcome")!;
    outcome.value = "menolak";
    outcome.dispatchEvent(new Event("change"));
    expect((el.querySelector("#graduation") as HTMLElement).hidden).toBe(true);
    await vi.waitFor(() => expect(saved[saved.length - 1]?.graduation).toBeUndefined(), { timeout: 2000 });
  });

  it("asks a death for its date and document, and a move for its desa", async () => {
    const { el, saved } = await formWithDocument<{ members: { status: string; exit?: Record<string, string | null> | null }[] }>("ab".repeat(32));
    expect(el.querySelector(".exit")).toBeNull();
    const status = el.querySelector<HTMLSelectElement>(".member-status")!;
    status.value = "meninggal";
    status.dispatchEvent(new Event("change"));
    const date = el.querySelector<HTMLInputElement>(".exit-date")!;
    date.value = "2026-11-20";
    date.dispatchEvent(new Event("input"));
    const photo = el.querySelector<HTMLSelectElement>(".exit-photo")!;
    // The document is one of this visit's photos, named by its kind.
    expect([...photo.options].map((o) => o.textContent)).toEqual(["Tidak ada dokumen", expect.stringContaining("Dokumen")]);
    photo.value = "ab".repeat(32);
    photo.dispatchEvent(new Event("change"));
    await vi.waitFor(() => expect(saved[saved.length - 1]?.members[0].exit?.document_photo).toBe("ab".repeat(32)), { timeout: 2000 });
    expect(saved[saved.length - 1].members[0].exit?.date).toBe("2026-11-20");
    // A move asks for its desa instead; back to "lives here", no exit at all.
    const again = el.querySelector<HTMLSelectElement>(".member-status")!;
    again.value = "pindah";
    again.dispatchEvent(new Event("change"));
    expect(el.querySelector(".exit-desa")).not.toBeNull();
    expect(el.querySelector(".exit-photo")).toBeNull();
    const back = el.querySelector<HTMLSelectElement>(".member-status")!;
    back.value = "tinggal";
    back.dispatchEvent(new Event("change"));
    await vi.waitFor(() => expect(saved[saved.length - 1]?.members[0].exit ?? null).toBeNull(), { timeout: 2000 });
    expect(el.querySelector(".exit")).toBeNull();
  });

  it("answers a short single choice with one tap, and a tap on a question's text answers nothing", async () => {
    const saved: Record<string, unknown>[] = [];
    const api = fakeApi({
      openVisit: async () => openVisit(["punya_ternak", "atap", "lantai"]),
      questionnaire: async () => qn,
      saveDraft: async (v) => { saved.push(structuredClone((v as { answers: Record<string, unknown> }).answers)); return { relevant: ["punya_ternak", "atap", "lantai"], issues: [] }; },
    });
    const el = await visitScreen(ctx(api), "h1");
    document.body.replaceChildren(el);
    // Two choices: buttons; seven: a select.
    expect(el.querySelectorAll('[data-question="atap"] button').length).toBe(2);
    expect(el.querySelector('select[data-question="lantai"]')).not.toBeNull();
    // The question's text is not a label around the buttons: tapping it answers nothing.
    (el.querySelector('[data-row="punya_ternak"] .question-text') as HTMLElement).click();
    (el.querySelector('[data-row="atap"] .question-text') as HTMLElement).click();
    expect(el.querySelector('[data-question="punya_ternak"] [aria-checked="true"]')).toBeNull();
    expect(el.querySelector('[data-question="atap"] [aria-checked="true"]')).toBeNull();
    el.querySelector<HTMLButtonElement>('[data-question="atap"] button[value="2"]')!.click();
    expect(el.querySelector('[data-question="atap"] button[value="2"]')!.getAttribute("aria-checked")).toBe("true");
    await vi.waitFor(() => expect(saved[saved.length - 1]?.atap).toBe("2"), { timeout: 2000 });
    // Tapping the chosen one again clears the answer.
    el.querySelector<HTMLButtonElement>('[data-question="atap"] button[value="2"]')!.click();
    await vi.waitFor(() => expect(saved.length > 0 && "atap" in saved[saved.length - 1]).toBe(false), { timeout: 2000 });
  });

  it("keeps the platform's mock-location flag with the fix, and assumes none where there is no flag", async () => {
    const saved: { gps: unknown }[] = [];
    const api = fakeApi({
      openVisit: async () => openVisit(["punya_ternak"]),
      questionnaire: async () => qn,
      saveDraft: async (v) => { saved.push(structuredClone(v as { gps: unknown })); return { relevant: ["punya_ternak"], issues: [] }; },
    });
    const fixes = [
      { coords: { latitude: -7.48, longitude: 110.2, accuracy: 8 }, timestamp: Date.parse("2026-11-22T01:00:00Z"), mocked: true },
      { coords: { latitude: -7.48, longitude: 110.2, accuracy: 5 }, timestamp: Date.parse("2026-11-22T01:00:05Z") },
    ];
    let next = 0;
    Object.defineProperty(navigator, "geolocation", { configurable: true, value: {
      // As a browser does: the fix comes after watchPosition has returned.
      watchPosition: (ok: (p: unknown) => void) => { setTimeout(() => ok(fixes[next++]), 0); return 1; },
      clearWatch: () => {},
    } });
    const el = await visitScreen(ctx(api), "h1");
    document.body.replaceChildren(el);
    (el.querySelector("#gps") as HTMLButtonElement).click();
    await vi.waitFor(() => expect(saved.length).toBeGreaterThan(0), { timeout: 2000 });
    expect(saved[saved.length - 1].gps).toMatchObject({ accuracy_m: 8, mocked: true });
    // A better fix without a flag replaces it, and says nothing about mocking.
    (el.querySelector("#gps") as HTMLButtonElement).click();
    await vi.waitFor(() => expect((saved[saved.length - 1].gps as { accuracy_m: number }).accuracy_m).toBe(5), { timeout: 2000 });
    expect((saved[saved.length - 1].gps as { mocked: unknown }).mocked).toBeNull();
  });

  it("saves what was typed at once when the screen is left, with no debounce window", async () => {
    const saved: unknown[] = [];
    let leave: (() => Promise<void>) | null = null;
    const api = fakeApi({ openVisit: async () => openVisit([]), questionnaire: async () => qn,
      saveDraft: async (v) => { saved.push(structuredClone(v)); return { relevant: [], issues: [] }; } });
    const el = await visitScreen({ ...ctx(api), onLeave: (f) => { leave = f; } }, "h1");
    const alamat = el.querySelector<HTMLInputElement>("#alamat")!;
    alamat.value = "Dusun Krajan, rumah cat biru";
    alamat.dispatchEvent(new Event("input"));
    expect(saved.length).toBe(0);
    await leave!();
    expect(saved.length).toBe(1);
    expect((saved[0] as { household: { alamat: string } }).household.alamat).toBe("Dusun Krajan, rumah cat biru");
    await new Promise((r) => setTimeout(r, 500));
    expect(saved.length).toBe(1);
  });

  it("asks for a reason or a reference exactly when the outcome's flags say so", async () => {
    const api = fakeApi({ openVisit: async () => openVisit([]), questionnaire: async () => qn, saveDraft: async () => ({ relevant: [], issues: [] }) });
    const el = await visitScreen(ctx(api), "h1");
    document.body.replaceChildren(el);
    const outcome = el.querySelector<HTMLSelectElement>("#outcome")!;
    const offered = [...outcome.options].map((o) => o.value);
    // Every outcome but usulan baru, which belongs to a proposed household.
    expect(offered).toEqual(vocab.outcomes.map((o) => o.code).filter((c) => c !== "usulan_baru"));
    for (const o of vocab.outcomes.filter((o) => o.code !== "usulan_baru")) {
      outcome.value = String(o.code);
      outcome.dispatchEvent(new Event("change"));
      expect(el.querySelector("#outcome-reason") !== null).toBe(o.needs_reason);
      expect(el.querySelector("#reference") !== null).toBe(o.needs_reference);
    }
    expect(outcomeTerm("tidak_ditemukan")!.needs_reason).toBe(true);
  });

  it("shows a sent visit read-only", async () => {
    const api = fakeApi({ openVisit: async () => ({ ...openVisit([]), state: "submitted" }), questionnaire: async () => qn });
    const el = await visitScreen(ctx(api), "h1");
    expect(el.querySelector("#locked")).not.toBeNull();
    expect(el.querySelector<HTMLButtonElement>("#finish")!.disabled).toBe(true);
  });
});

describe("send", () => {
  it("lists the inbox with the supervisor's reason and submits the chosen visits", async () => {
    const submitted: string[][] = [];
    const go = vi.fn();
    const api = fakeApi({
      syncState: async () => ({
        outbox: { pending_ops: 2, pending_visits: 1, pending_batches: 0, acked_through: 4, needs_attention: 0 },
        last_sync: null, needs_attention: [],
        inbox: [{ household_id: "h9", nama_krt: "Budi", visit_id: "v9", reason: "Foto buram" }],
        ready: [{ visit_id: "v1", household_id: "h1", nama_krt: "Ani" }, { visit_id: "v2", household_id: "h2", nama_krt: "Citra" }],
        received: [{ visit_id: "v0", household_id: "h0", nama_krt: "Dewi", state: "submitted", received_at: "2026-12-02T03:00:00Z", submitted_at: "2026-12-02T03:05:00Z" }],
        log: [
          { at: "2026-12-02T03:06:00Z", ok: false, ops_up: 0, photos_up: 0, pulled: 0, code: "sync.network", message: "Tidak ada sinyal" },
          { at: "2026-12-02T03:05:00Z", ok: true, ops_up: 2, photos_up: 1, pulled: 4, code: null, message: null },
        ],
      }),
      submit: async (ids) => { submitted.push(ids); return ids.length; },
    });
    const el = await sendScreen(ctx(api, go));
    document.body.replaceChildren(el);
    expect(el.querySelector("#pending")!.textContent).toBe("1 kunjungan menunggu dikirim");
    expect(el.querySelector("#pending-ops")!.textContent).toContain("2 catatan antrean");
    expect(el.querySelector("#inbox .reason")!.textContent).toBe("Foto buram");
    expect(el.querySelector('#received [data-visit="v0"]')!.textContent).toContain("diterima server dan diajukan ke pengawas");
    const log = [...el.querySelectorAll("#sync-log li")].map((li) => li.textContent);
    expect(log[0]).toContain("berhenti: Tidak ada sinyal");
    expect(log[1]).toContain("2 catatan dan 1 foto terkirim, 4 pembaruan diunduh");
    const boxes = el.querySelectorAll<HTMLInputElement>("#ready input");
    boxes[1].checked = false;
    boxes[1].dispatchEvent(new Event("change"));
    el.querySelector<HTMLButtonElement>("#submit-batch")!.click();
    await vi.waitFor(() => expect(submitted).toEqual([["v1"]]));
    el.querySelector<HTMLButtonElement>(".amend")!.click();
    expect(go).toHaveBeenCalledWith("visit", "h9");
  });
});

describe("the windowed list", () => {
  it("places its rows by heights measured once it is in the page, even when attached late", async () => {
    const root = document.createElement("div");
    root.getBoundingClientRect = () => ({ top: 0, height: 0 } as DOMRect);
    // Cards as tall as at 200 % text: 272 px (the CSS default guess is 112).
    const card = () => { const el = document.createElement("button"); el.getBoundingClientRect = () => ({ top: 0, height: 272 } as DOMRect); return el; };
    const items = [{ kind: "rt" as const, g: { rt: "001", rw: "001", kode_desa: "3308012001", nama_desa: null, households: [] } },
      ...Array.from({ length: 5 }, (_, i) => ({ kind: "hh" as const, r: row(`h${i}`, "not_visited") }))];
    const list = windowed(root, card, document.createElement("p"));
    list.set(items as Parameters<typeof list.set>[0]);
    // Not in the page yet (a slow phone attaches the screen frames later): default heights.
    await new Promise((r) => requestAnimationFrame(() => r(null)));
    document.body.replaceChildren(root);
    await new Promise((r) => setTimeout(r, 100));
    const tops = [...root.children].map((el) => (el as HTMLElement).style.top);
    // Header 272, then each card 272 + 8 apart: no card overlaps the next.
    expect(tops.slice(0, 3)).toEqual(["0px", "272px", "552px"]);
  });

  it("keeps the rows that stay in view as it scrolls, adding and dropping only the rest, in order", async () => {
    const root = document.createElement("div");
    document.body.replaceChildren(root);
    let top = 0; // where the list's top stands on the screen, px (happy-dom lays nothing out)
    root.getBoundingClientRect = () => ({ top, height: 0 } as DOMRect);
    const items = Array.from({ length: 300 }, (_, i) => ({ kind: "hh" as const, r: row(`h${i}`, "not_visited") }));
    let built = 0;
    const list = windowed(root, () => { built += 1; return document.createElement("button"); }, document.createElement("p"));
    list.set(items as Parameters<typeof list.set>[0]);
    await new Promise((r) => requestAnimationFrame(() => r(null)));
    const kept = root.querySelector('[data-index="12"]');
    expect(kept).not.toBeNull();
    const builtBefore = built;
    top = -112 * 20; // twenty cards down: rows 11-14 stay in the window
    window.dispatchEvent(new Event("scroll"));
    await new Promise((r) => requestAnimationFrame(() => r(null)));
    expect(root.querySelector('[data-index="12"]')).toBe(kept);
    expect(root.querySelector('[data-index="0"]')).toBeNull();
    // Only the rows coming into view were built, not the whole window again.
    expect(built - builtBefore).toBeLessThan(root.children.length);
    const order = [...root.children].map((el) => Number((el as HTMLElement).dataset.index));
    expect(order).toEqual([...order].sort((a, b) => a - b));
    // A scroll that changes nothing in view rebuilds nothing.
    const still = built;
    window.dispatchEvent(new Event("scroll"));
    await new Promise((r) => requestAnimationFrame(() => r(null)));
    expect(built).toBe(still);
  });
});

describe("automatic sync", () => {
  it("syncs while unlocked and stays quiet without a signal", async () => {
    const { App } = await import("../src/app");
    let calls = 0;
    const api = fakeApi({ syncNow: async () => { calls += 1; throw { code: "sync.network", message: "offline" }; } });
    const root = document.createElement("main");
    const app = new App(api, root);
    await app.start();
    await app.autoSync();
    expect(calls).toBe(1);
    expect(root.querySelector(".error")).toBeNull();
  });
  it("sends in a second round what was queued while the sync ran, and stops when nothing waits", async () => {
    const { App } = await import("../src/app");
    let calls = 0;
    let pending = 1; // a batch submitted with a quick tap reached the outbox during the first round
    const api = fakeApi({
      // The first round sends 3 and leaves the op that arrived meanwhile; a later one sends it.
      syncNow: async () => { calls += 1; const acked = calls === 1 ? 3 : pending; if (calls > 1) pending = 0; return { acked, rejected: 0, photos: 1, pulled: 2, removed: 0 }; },
      syncState: async () => ({ ready: [], inbox: [], outbox: { pending_ops: pending, pending_visits: pending } } as unknown as SyncState),
    });
    const app = new App(api, document.createElement("main"));
    await app.start();
    const r = await app.sync();
    expect(calls).toBe(2);
    expect(r).toEqual({ acked: 4, rejected: 0, photos: 2, pulled: 4, removed: 0 });
    await app.sync();
    expect(calls).toBe(3);
  });
  it("leaves the screen tapped last alone when a sync ends (the send screen is redrawn only if it shows)", async () => {
    const { App } = await import("../src/app");
    let finish: (d: { acked: number; rejected: number; photos: number; pulled: number; removed: number }) => void = () => {};
    const api = fakeApi({
      // The store answers after a moment, as on a phone: a screen takes a while to draw.
      status: () => new Promise((ok) => setTimeout(() => ok(status), 5)),
      syncNow: () => new Promise((ok) => { finish = ok; }),
      syncState: async () => ({ ready: [], inbox: [], needs_attention: [], received: [], log: [], last_sync: null, outbox: { pending_ops: 0, pending_visits: 0, pending_batches: 0, photos_pending: 0, acked_through: 0, needs_attention: 0 } } as unknown as SyncState),
    });
    const root = document.createElement("main");
    const app = new App(api, root);
    await app.start();
    await app.show("send");
    const running = app.sync();
    // The enumerator goes to the list while the sync still runs; then it ends.
    const toList = app.show("list");
    finish({ acked: 0, rejected: 0, photos: 0, pulled: 0, removed: 0 });
    await running;
    await toList;
    await new Promise((r) => setTimeout(r, 0));
    await vi.waitFor(() => expect(root.dataset.screen).toBe("list"));
    await new Promise((r) => setTimeout(r, 20));
    expect(root.dataset.screen).toBe("list");
  });
  it("says in one line when households were given to a colleague", async () => {
    const { App } = await import("../src/app");
    document.body.innerHTML = '<div id="toast"></div>';
    const api = fakeApi({ syncNow: async () => ({ acked: 0, rejected: 0, photos: 0, pulled: 4, removed: 2 }) });
    const app = new App(api, document.createElement("main"));
    await app.start();
    await app.autoSync();
    expect(document.getElementById("toast")?.textContent).toBe("2 rumah tangga dialihkan ke petugas lain");
  });
});

describe("a household given to a colleague", () => {
  const detail = (visits: HouseholdDetail["visits"], withdrawn = true): HouseholdDetail => ({
    household: { id: "h1", id_dtsen: "D1", no_kk: null, nama_krt: "Ani", alamat: "Dusun", rt: "001", rw: "002", kode_desa: "3308012001", desil: 1, version: 1 },
    proposed: false, withdrawn, status: "draft", members: [], visits,
  });
  const draft = { visit_id: "v1", revision: 0, outcome: "ditemukan" as const, state: "draft" as const, finished: false, started_at: "2026-12-01T01:00:00Z", updated_at: "2026-12-01T01:00:00Z", reviews: [], attention: [], photos: [] };
  it("says why, lets the draft be finished, and discards it only on the second tap", async () => {
    document.body.innerHTML = '<div id="toast"></div>';
    const discardDraft = vi.fn(async () => true);
    const go = vi.fn();
    const el = await householdScreen(ctx(fakeApi({ household: async () => detail([draft]), discardDraft }), go), "h1");
    expect(el.querySelector("#withdrawn")?.textContent).toContain("dialihkan ke petugas lain");
    expect(el.querySelector("#visit")).not.toBeNull();
    el.querySelector<HTMLButtonElement>("#discard")!.click();
    expect(discardDraft).not.toHaveBeenCalled();
    el.querySelector<HTMLButtonElement>("#discard-sure")!.click();
    await vi.waitFor(() => expect(go).toHaveBeenCalledWith("list"));
    expect(discardDraft).toHaveBeenCalledWith("v1");
  });
  it("starts nothing new once the work on it is done", async () => {
    const el = await householdScreen(ctx(fakeApi({ household: async () => detail([{ ...draft, finished: true, revision: 1, state: "submitted" }]) })), "h1");
    expect(el.querySelector("#withdrawn")?.textContent).toContain("menunggu dikirim");
    expect(el.querySelector("#visit")).toBeNull();
    expect(el.querySelector("#discard")).toBeNull();
  });
  it("is an ordinary household when it is still the user's, whose unsent draft may be thrown away", async () => {
    const el = await householdScreen(ctx(fakeApi({ household: async () => detail([draft], false) })), "h1");
    expect(el.querySelector("#withdrawn")).toBeNull();
    expect(el.querySelector("#visit")).not.toBeNull();
    expect(el.querySelector("#discard")).not.toBeNull();
    const sent = await householdScreen(ctx(fakeApi({ household: async () => detail([{ ...draft, finished: true, revision: 1 }], false) })), "h1");
    expect(sent.querySelector("#discard")).toBeNull();
  });
  it("lets a member added by mistake be removed, never one of the baseline", async () => {
    const v = openVisit([]);
    v.record.members.push({ member_id: "m-new", nik: null, name: "Salah tambah", sex: "L", birth_place: null, birth_date: null, relationship: 3, status: "anggota_baru" });
    const base = detail([], false);
    base.members = [{ member_id: "m1", nik: "3308", name: "Ani", sex: "P", birth_place: null, birth_date: "1980-01-01", relationship: 1, status: "tinggal" }];
    const saved: unknown[] = [];
    let leave: (() => Promise<void>) | null = null;
    const api = fakeApi({ openVisit: async () => v, questionnaire: async () => qn, household: async () => base, saveDraft: async (x) => { saved.push(structuredClone(x)); return { relevant: [], issues: [] }; } });
    const el = await visitScreen({ ...ctx(api), onLeave: (f) => { leave = f; } }, "h1");
    expect(el.querySelectorAll(".remove-member").length).toBe(1);
    el.querySelector<HTMLButtonElement>('[data-member="1"] .remove-member')!.click();
    await leave!();
    expect((saved[0] as { members: unknown[] }).members.length).toBe(1);
  });
});

describe("first sign-in after an admin's password reset", () => {
  it("asks for a new password and sends it with the next try", async () => {
    const signIn = vi.fn()
      .mockRejectedValueOnce({ code: "auth.password_change_required", message: "Kata sandi ini sekali pakai" })
      .mockResolvedValueOnce(status);
    const go = vi.fn();
    const el = await signInScreen(ctx(fakeApi({ signIn }), go));
    const fill = (id: string, v: string) => { (el.querySelector(`#${id}`) as HTMLInputElement).value = v; };
    fill("username", "ani"); fill("password", "k7mq-3wzp-h9xe"); fill("pin", "270814"); fill("pin2", "270814");
    expect((el.querySelector("#new-password-field") as HTMLElement).hidden).toBe(true);
    el.dispatchEvent(new Event("submit"));
    await vi.waitFor(() => expect((el.querySelector("#new-password-field") as HTMLElement).hidden).toBe(false));
    expect(el.querySelector("#signin-error")?.textContent).toContain("sekali pakai");
    fill("new_password", "kopi-tubruk-pagi");
    el.dispatchEvent(new Event("submit"));
    await vi.waitFor(() => expect(go).toHaveBeenCalledWith("list"));
    expect(signIn).toHaveBeenLastCalledWith("http://127.0.0.1:8080", "ani", "k7mq-3wzp-h9xe", "270814", "kopi-tubruk-pagi");
    expect(signIn.mock.calls[0][4]).toBeUndefined();
  });
});

describe("a phone an admin wiped", () => {
  it("says so and returns to the sign-in screen after the automatic sync", async () => {
    const { App } = await import("../src/app");
    document.body.innerHTML = '<div id="toast"></div>';
    let signedIn = true;
    const api = fakeApi({
      status: async () => ({ ...status, signed_in: signedIn, unlocked: signedIn }),
      defaultServer: async () => "https://verivali.example",
      syncNow: async () => { signedIn = false; throw { code: "field.wiped", message: "Perangkat ini dihapus oleh admin" }; },
    });
    const root = document.createElement("main");
    const app = new App(api, root);
    await app.start();
    await app.autoSync();
    expect(document.getElementById("toast")?.textContent).toContain("dihapus oleh admin");
    expect(root.dataset.screen).toBe("signin");
  });
});

describe("a session that ended while work waits on the phone", () => {
  it("offers to sign in again on the send screen and keeps the queue", async () => {
    document.body.innerHTML = '<div id="toast"></div>';
    const renewSession = vi.fn(async () => status);
    const go = vi.fn();
    const api = fakeApi({
      syncState: async () => ({ outbox: { pending_ops: 2, pending_visits: 2, pending_batches: 0, acked_through: 0, needs_attention: 0 }, last_sync: null, needs_attention: [], inbox: [], ready: [], received: [], log: [] }),
      syncNow: async () => { throw { code: "auth.token_expired", message: "Sesi sudah habis; silakan masuk lagi" }; },
      renewSession,
    });
    const el = await sendScreen(ctx(api, go));
    expect((el.querySelector("#sign-in-again") as HTMLElement).hidden).toBe(true);
    el.querySelector<HTMLButtonElement>("#sync-now")!.click();
    await vi.waitFor(() => expect((el.querySelector("#sign-in-again") as HTMLElement).hidden).toBe(false));
    (el.querySelector("#again-password") as HTMLInputElement).value = "kopi-tubruk-pagi";
    el.querySelector("#sign-in-again")!.dispatchEvent(new Event("submit"));
    await vi.waitFor(() => expect(renewSession).toHaveBeenCalledWith("kopi-tubruk-pagi"));
    expect(go).toHaveBeenCalledWith("send");
  });
});

describe("the household screen reads as people speak", () => {
  it("names relationships and sexes, and shows times in the phone's zone", async () => {
    const d = {
      household: { id: "h1", id_dtsen: "D1", no_kk: null, nama_krt: "Ani", alamat: "Dusun", rt: "001", rw: "002", kode_desa: "3308012001", desil: 1, version: 1 },
      proposed: false, withdrawn: false, status: "draft" as const,
      members: [{ member_id: "m1", nik: null, name: "Ani", sex: "P" as const, birth_place: null, birth_date: "1980-01-01", relationship: 1, status: "tinggal" as const }],
      visits: [],
    };
    const el = await householdScreen(ctx(fakeApi({ household: async () => d as unknown as HouseholdDetail })), "h1");
    expect(el.querySelector("#members")?.textContent).toContain("Kepala rumah tangga");
    expect(el.querySelector("#members")?.textContent).not.toContain("· 1 ·");
    // 03:05 UTC is 10:05 in Jakarta (WIB), not the UTC text.
    expect(localTime("2026-12-02T03:05:00Z", "Asia/Jakarta")).toContain("10.05");
  });
});

describe("a list of 5,000 households", () => {
  it("keeps only a screenful of cards in the page, and says why a search matched", async () => {
    const rows = Array.from({ length: 5000 }, (_, i) => row(`h${i}`, "not_visited", `KRT ${i}`));
    const groups = Array.from({ length: 50 }, (_, g) => ({ kode_desa: "3308012001", nama_desa: "Sukamaju", rw: "001", rt: String(g + 1).padStart(3, "0"), households: rows.slice(g * 100, g * 100 + 100) }));
    const el = await listScreen(ctx(fakeApi({ assignments: async () => groups, progress: async () => ({ done: 0, total: 5000 }) })));
    document.body.replaceChildren(el);
    expect(el.querySelector("#households")!.getAttribute("data-count")).toBe("5000");
    const cards = el.querySelectorAll("[data-household]").length;
    expect(cards).toBeGreaterThan(0);
    expect(cards).toBeLessThan(40);
    const found = [{ ...groups[0], households: [{ ...rows[0], nama_krt: "Slamet", matched: { tier: 2, field: "member" as const, text: "Dwi Rahayu" } }] }];
    const one = await listScreen(ctx(fakeApi({ assignments: async () => found, progress: async () => ({ done: 0, total: 1 }) })));
    expect(one.querySelector(".matched")!.textContent).toBe("anggota: Dwi Rahayu");
  });
});

describe("photos in the visit form", () => {
  it("sends raw bytes, names what each photo shows, offers the next kind and removes one", async () => {
    const sent: Uint8Array[] = [];
    const saved: VisitRecordLike[] = [];
    type VisitRecordLike = { photos: string[]; photo_kinds?: Record<string, string> };
    const api = fakeApi({
      openVisit: async () => openVisit([]), questionnaire: async () => qn,
      saveDraft: async (v) => { saved.push(structuredClone(v) as VisitRecordLike); return { relevant: [], issues: [] }; },
      addPhoto: async (bytes) => { sent.push(bytes); return `${"a".repeat(63)}${sent.length}`; },
      photoThumbnail: async () => new ArrayBuffer(4),
    });
    let leave: (() => Promise<void>) | null = null;
    const el = await visitScreen({ ...ctx(api), onLeave: (f) => { leave = f; } }, "h1");
    document.body.replaceChildren(el);
    const kind = el.querySelector<HTMLSelectElement>("#photo-kind")!;
    expect(kind.value).toBe("depan");
    const input = el.querySelector<HTMLInputElement>("#photo")!;
    const take = async (bytes: number[]) => {
      Object.defineProperty(input, "files", { value: [new File([new Uint8Array(bytes)], "foto.jpg", { type: "image/jpeg" })], configurable: true });
      input.dispatchEvent(new Event("change"));
      await vi.waitFor(() => expect(el.querySelectorAll("[data-photo]").length).toBe(sent.length));
    };
    await take([0xff, 0xd8, 1]);
    expect(sent[0]).toBeInstanceOf(Uint8Array);
    expect([...sent[0]]).toEqual([0xff, 0xd8, 1]);
    expect(kind.value).toBe("dalam");
    await take([0xff, 0xd8, 2]);
    expect(el.querySelector("#photos")!.textContent).toContain("Bagian dalam rumah");
    el.querySelector<HTMLButtonElement>('[data-photo] .remove-photo')!.click();
    await leave!();
    const last = saved[saved.length - 1];
    expect(last.photos).toEqual([`${"a".repeat(63)}2`]);
    expect(last.photo_kinds).toEqual({ [`${"a".repeat(63)}2`]: "dalam" });
    expect(kind.value).toBe("depan");
  });
});

describe("a new household (usulan baru)", () => {
  it("shows each refusal under its field, then opens the visit of the new household", async () => {
    const { proposeScreen } = await import("../src/screens/propose");
    document.body.innerHTML = '<div id="toast"></div>';
    const go = vi.fn();
    const proposeHousehold = vi.fn()
      .mockRejectedValueOnce({ code: "store.invalid", message: "Isian belum benar", issues: [{ code: "household.address_required", at: "alamat", message: "Alamat wajib diisi", error: true }] })
      .mockResolvedValueOnce("h-new");
    const groups = [{ kode_desa: "3308012001", nama_desa: "Sukamaju", rw: "001", rt: "001", households: [] }];
    const el = await proposeScreen(ctx(fakeApi({ assignments: async () => groups, proposeHousehold }), go));
    expect((el.querySelector("#new-desa") as HTMLSelectElement).textContent).toContain("Sukamaju");
    (el.querySelector("#new-nama_krt") as HTMLInputElement).value = "Wahyu Hidayat";
    (el.querySelector("#new-rt") as HTMLInputElement).value = "002";
    (el.querySelector("#new-rw") as HTMLInputElement).value = "001";
    el.dispatchEvent(new Event("submit"));
    await vi.waitFor(() => expect(el.querySelector('[data-at="alamat"]')!.textContent).toBe("Alamat wajib diisi"));
    (el.querySelector("#new-alamat") as HTMLInputElement).value = "Dusun Krajan No. 7";
    el.dispatchEvent(new Event("submit"));
    await vi.waitFor(() => expect(go).toHaveBeenCalledWith("visit", "h-new"));
    expect(proposeHousehold).toHaveBeenLastCalledWith({ nama_krt: "Wahyu Hidayat", no_kk: null, alamat: "Dusun Krajan No. 7", rt: "002", rw: "001" }, "3308012001");
  });
  it("is visited as usulan baru only, and a listed household never is", async () => {
    const proposed = openVisit([]);
    proposed.record.baseline_version = 0;
    proposed.record.outcome = "usulan_baru";
    const el = await visitScreen(ctx(fakeApi({ openVisit: async () => proposed, questionnaire: async () => qn })), "h1");
    expect([...el.querySelector<HTMLSelectElement>("#outcome")!.options].map((o) => o.value)).toEqual(["usulan_baru"]);
    const listed = await visitScreen(ctx(fakeApi({ openVisit: async () => openVisit([]), questionnaire: async () => qn })), "h1");
    expect([...listed.querySelector<HTMLSelectElement>("#outcome")!.options].map((o) => o.value)).not.toContain("usulan_baru");
  });
});

describe("a form that follows the outcome", () => {
  it("shows only what an outcome needs, the supervisor's reason, and asks why there is no GPS or photo", async () => {
    document.body.innerHTML = '<div id="toast"></div>';
    const finishVisit = vi.fn(async () => 1);
    const back = { ...openVisit([]), state: "rejected" as const, returned_reason: "Foto buram, ambil ulang" };
    const api = fakeApi({ openVisit: async () => back, questionnaire: async () => qn, finishVisit, saveDraft: async () => ({ relevant: [], issues: [] }) });
    const el = await visitScreen(ctx(api, vi.fn()), "h1");
    document.body.replaceChildren(el);
    expect(el.querySelector("#returned-reason")!.textContent).toContain("Foto buram");
    const outcome = el.querySelector<HTMLSelectElement>("#outcome")!;
    outcome.value = "tidak_ditemukan";
    outcome.dispatchEvent(new Event("change"));
    expect(el.querySelector("#member-list")!.closest("[hidden]")).not.toBeNull();
    // The step line follows: outcome, GPS and photos only.
    expect([...el.querySelectorAll("#steps .step")].map((b) => b.textContent!.replace(/^[✓!] /, ""))).toEqual(["Hasil", "GPS dan foto"]);
    expect((el.querySelector(".section") as HTMLElement).hidden).toBe(true);
    expect(el.querySelector("#outcome-reason")).not.toBeNull();
    el.querySelector<HTMLButtonElement>("#finish")!.click();
    await vi.waitFor(() => expect(el.querySelector("#evidence-issue")!.textContent).toContain("Tidak ada lokasi GPS dan foto"));
    expect(finishVisit).not.toHaveBeenCalled();
    const note = el.querySelector<HTMLTextAreaElement>("#evidence-note")!;
    note.value = "Rumah kosong, tetangga bilang sudah pindah; HP tidak dapat GPS";
    note.dispatchEvent(new Event("input"));
    el.querySelector<HTMLButtonElement>("#finish")!.click();
    await vi.waitFor(() => expect(finishVisit).toHaveBeenCalled());
    expect((finishVisit.mock.calls[0] as unknown as [{ evidence_note: string }])[0].evidence_note).toContain("sudah pindah");
    // The visit goes with its paradata (foreground time measured by the form).
    const sent = (finishVisit.mock.calls[0] as unknown as [{ paradata: { duration_s: number; answer_changes: number } }])[0];
    expect(sent.paradata.duration_s).toBeGreaterThanOrEqual(0);
    expect(sent.paradata.answer_changes).toBe(0);
  });
});

describe("paradata", () => {
  it("counts foreground time only, per section, with answer changes and fixes", async () => {
    const { tracker } = await import("../src/paradata");
    let clock = 0;
    const p = tracker(null, () => clock);
    p.resume();
    p.enter("perumahan");
    clock += 90_000;
    p.pause(); // the phone is locked for ten minutes
    clock += 600_000;
    p.resume();
    clock += 30_000;
    p.enter("aset");
    clock += 45_500;
    p.answered(false);
    p.answered(true);
    const fix = { lat: -7.47, lon: 110.21, accuracy_m: 9, at: "2026-11-22T03:00:00Z", mocked: true };
    p.fix(fix);
    p.fix({ ...fix, accuracy_m: 4, mocked: null });
    const finish = { ...fix, accuracy_m: 4, mocked: null };
    const snap = p.snapshot(finish);
    expect(snap.duration_s).toBe(165);
    expect(snap.sections).toEqual({ perumahan: 120, aset: 45 });
    expect(snap.answer_changes).toBe(1);
    expect(snap.gps_start).toEqual(fix);
    expect(snap.gps_finish).toEqual(finish);
    expect(snap.mock_location).toBe(true);
    // A draft opened again continues from what it had.
    const again = tracker(snap, () => clock);
    again.resume();
    clock += 10_000;
    expect(again.snapshot().duration_s).toBe(175);
  });
});
